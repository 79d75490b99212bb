"""Algorithms, filters, weighers and device assigners by name, through
stevedore.

Any package may add its own: an entry point in agentsched.algorithms,
agentsched.filters, agentsched.weighers or agentsched.device_assigners,
then its name in [scheduler].
"""

from oslo_log import log as logging
import stevedore
from stevedore import exception as stevedore_exception

from agentsched import constants
from agentsched.algorithms import base
from agentsched.conf import scheduler as scheduler_conf

LOG = logging.getLogger(__name__)


class UnknownPlugin(ValueError):
    """A configured name that no installed entry point provides."""


def _installed(namespace):
    return sorted(stevedore.ExtensionManager(namespace).names())


def _unknown(kind, names, namespace, option):
    return UnknownPlugin('Unknown scheduler %s %s in [scheduler] %s; '
                         'installed (entry points in %s): %s' % (
                             kind, ', '.join(repr(n) for n in sorted(names)),
                             option, namespace,
                             ', '.join(_installed(namespace)) or 'none'))


def load(conf, resource_type, rng=None):
    """The algorithm configured for resource_type, with its filters and
    weighers. rng: a random.Random for it (tests seed one)."""
    scheduler_conf.register_opts(conf)
    group = conf[scheduler_conf.GROUP]
    option = '%s_algorithm' % resource_type
    try:
        name = group[option]
    except (KeyError, AttributeError):
        raise UnknownPlugin('No scheduler algorithm for resource type %r: '
                            'there is no [scheduler] %s option' % (
                                resource_type, option))
    return load_algorithm(
        name,
        filters=load_filters(group.enabled_filters),
        weighers=load_weighers(group.enabled_weighers,
                               group.weigher_multipliers),
        host_subset_size=group.host_subset_size,
        sample_size=group.sample_size,
        rng=rng, option=option)


def load_algorithm(name, filters=(), weighers=(), host_subset_size=1,
                   sample_size=base.DEFAULT_SAMPLE_SIZE, rng=None,
                   option='<resource type>_algorithm'):
    try:
        manager = stevedore.DriverManager(
            constants.NS_ALGORITHMS, name, invoke_on_load=True,
            invoke_kwds={'filters': filters, 'weighers': weighers,
                         'host_subset_size': host_subset_size,
                         'sample_size': sample_size, 'rng': rng})
    except stevedore_exception.NoMatches:
        raise _unknown('algorithm', [name], constants.NS_ALGORITHMS, option)
    return manager.driver


def load_device_assigner(conf, rng=None):
    """The device assigner named by [scheduler] device_assigner;
    UnknownPlugin if no installed entry point provides it."""
    scheduler_conf.register_opts(conf)
    name = conf[scheduler_conf.GROUP].device_assigner
    try:
        manager = stevedore.DriverManager(
            constants.NS_DEVICE_ASSIGNERS, name, invoke_on_load=True,
            invoke_kwds={'rng': rng})
    except stevedore_exception.NoMatches:
        raise UnknownPlugin(
            'Unknown device assigner %r in [scheduler] device_assigner; '
            'installed (entry points in %s): %s' % (
                name, constants.NS_DEVICE_ASSIGNERS,
                ', '.join(_installed(constants.NS_DEVICE_ASSIGNERS)) or
                'none'))
    return manager.driver


def load_filters(names):
    """Filter instances, in the order named."""
    return [plugin() for _, plugin in _plugins(
        constants.NS_FILTERS, names, 'filter', 'enabled_filters')]


def load_weighers(names, multipliers=None):
    """Weigher instances with their multipliers (1.0 when not given)."""
    multipliers = dict(multipliers or {})
    stray = set(multipliers) - set(names)
    if stray:
        LOG.warning('[scheduler] weigher_multipliers names weighers that '
                    'are not enabled: %s', ', '.join(sorted(stray)))
    return [plugin(multiplier=multipliers.get(name, 1.0))
            for name, plugin in _plugins(constants.NS_WEIGHERS, names,
                                         'weigher', 'enabled_weighers')]


def _plugins(namespace, names, kind, option):
    """[(name, class)] in the order of names; UnknownPlugin if one is not
    installed (stevedore alone would skip it silently)."""
    names = list(names)
    if not names:
        return []
    missing = []
    manager = stevedore.NamedExtensionManager(
        namespace, names, name_order=True,
        on_missing_entrypoints_callback=missing.extend)
    if missing:
        raise _unknown(kind, missing, namespace, option)
    by_name = {extension.name: extension.plugin for extension in manager}
    return [(name, by_name[name]) for name in names]
