"""Contract suites: one per driver seam, run against the fake and the real driver.

Each behavioural test takes an `impl` fixture parametrised over ['fake',
'real'] and asserts only what the reconcile loop relies on (DESIGN section 4,
`lbaas/drivers/base.py`). Where the fake deliberately does less (it knows no
local subnets, accepts any configuration), the difference is stated in a
per-driver capabilities dict rather than hidden in the test.
"""
