"""kombu's memory transport with a sane polling interval.

oslo.messaging sets the polling interval of any memory:// connection to 0
("to speed up tests"), which makes every consumer thread spin: an idle
embedded server burned most of a core. Under another name the kludge does
not apply, and consumers poll every POLLING_INTERVAL instead: at most that
much latency per hop, and an idle server that stays idle.
"""

from kombu import transport
from kombu.transport import memory

NAME = 'agentsched-memory'
POLLING_INTERVAL = 0.01


class Transport(memory.Transport):
    polling_interval = POLLING_INTERVAL


def register():
    transport.TRANSPORT_ALIASES.setdefault(NAME, __name__ + ':Transport')
