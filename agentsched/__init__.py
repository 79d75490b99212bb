import warnings

from oslo_service import backend as _backend

# oslo.service 4.x still defaults to eventlet; agentsched runs on threads.
# The hook is read when a service module first loads, whoever imports first.
_backend.register_backend_default_hook(lambda: _backend.BackendType.THREADING)

# futurist imports eventlet when it is installed (oslo.service depends on it)
# and eventlet warns on import; agentsched never uses it.
warnings.filterwarnings('ignore', message=r'(?s).*Eventlet is deprecated')
