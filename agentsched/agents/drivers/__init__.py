"""Device drivers: how an agent drives one appliance of a device_type.

base.py holds the interface and the stevedore loader; one module per driver
(noop, haproxy, strongswan), with the config rendering of each in a module
of its own so it can be read and tested without a process.
"""
