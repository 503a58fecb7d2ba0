// Members pasted as a list: one per line, "ADDRESS PORT [WEIGHT] [backup]",
// "ADDRESS:PORT" or "[IPV6]:PORT"; blank lines and # comments are skipped.
export function parseMembers(text) {
  const members = [];
  text.split('\n').forEach((raw, index) => {
    const line = raw.replace(/#.*/, '').trim();
    if (!line) return;
    const words = line.split(/[\s,;]+/);
    let [address, port] = [words.shift(), undefined];
    const bracketed = address.match(/^\[(.+)\]:(\d+)$/);
    const colon = address.match(/^([^:]+):(\d+)$/);
    if (bracketed) [, address, port] = bracketed;
    else if (colon) [, address, port] = colon;
    else port = words.shift();
    if (!port || !/^\d+$/.test(port)) throw new Error(`Line ${index + 1}: "${raw.trim()}" has no port`);
    const member = { address, protocol_port: Number(port) };
    for (const word of words) {
      if (/^\d+$/.test(word)) member.weight = Number(word);
      else if (/^weight=\d+$/.test(word)) member.weight = Number(word.slice(7));
      else if (word === 'backup') member.backup = true;
      else if (word.startsWith('name=')) member.name = word.slice(5);
      else throw new Error(`Line ${index + 1}: "${word}" is not a weight, backup or name=`);
    }
    members.push(member);
  });
  return members;
}

// What a batch update must repeat of a member it keeps (or it would change).
export function kept(m) {
  const out = {};
  for (const key of ['address', 'protocol_port', 'name', 'weight', 'backup', 'admin_state_up',
    'subnet_id', 'monitor_address', 'monitor_port', 'tags']) {
    if (m[key] !== null && m[key] !== undefined && m[key] !== '') out[key] = m[key];
  }
  return out;
}
