"""`lbaas api`: the WSGI app under gunicorn."""
from gunicorn.app.base import BaseApplication

from lbaas import config
from lbaas.db import session as db

# Newer gunicorn opens a control socket at one fixed path per user, so a
# second service on the host (a test run beside `lbaas serve`) would take
# over the first one's. We do not use it; older versions lack the setting.
OPTIONAL_SETTINGS = {'control_socket_disable': True}


class _Gunicorn(BaseApplication):
    def __init__(self, options):
        self.options = options
        super().__init__()

    def load_config(self):
        for key, value in self.options.items():
            self.cfg.set(key, value)
        for key, value in OPTIONAL_SETTINGS.items():
            if key in self.cfg.settings:
                self.cfg.set(key, value)

    def load(self):
        from lbaas.api import app
        return app.create_app()


def _post_fork(server, worker):
    db.reset()  # database connections must not cross a fork


def serve():
    settings = config.CONF.api_settings
    host = settings.bind_host
    bind = '[%s]:%d' % (host, settings.bind_port) if ':' in host else \
        '%s:%d' % (host, settings.bind_port)
    _Gunicorn({'bind': bind, 'workers': settings.workers, 'worker_class': 'gthread',
               'threads': 4, 'preload_app': True, 'post_fork': _post_fork,
               'accesslog': '-', 'errorlog': '-', 'timeout': 120,
               'loglevel': 'debug' if config.CONF.debug else 'info'}).run()
