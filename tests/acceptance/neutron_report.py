"""Heartbeats from Neutron's own agent code, for the acceptance tests.

Run with the python of the Neutron venv (tests/neutron_client.py), never the
project's. It sets Neutron up the way neutron-openvswitch-agent does
(neutron.common.config: options, a config file, neutron_lib.rpc.init),
builds neutron.agent.rpc.PluginReportStateAPI, asks
has_alive_neutron_server as the OVS agent's setup_rpc does, then reports
like the OVS agent's _report_state: an admin context without session, the
state dict reused from one report to the next, resource_versions sent until
a report succeeds and start_flag dropped after the first one.

Prints one JSON object per line on stdout: {"has_alive_neutron_server": ..}
then {"report": n, "mode": .., "reply": ..} for each report (reply is null
for a cast). Neutron's log goes to stderr. With --step it reads a line on
stdin before each report, so a test can look between two reports. With
--device-count it also sets configurations['devices'] to that count and
in_distributed_mode, as the OVS agent's _report_state does before every
report (an integer: the ports it wires, not agentsched's device list).
"""

import argparse
import json
import os
import sys
import tempfile
import time


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--host', required=True)
    parser.add_argument('--agent-type', required=True)
    parser.add_argument('--topic', required=True,
                        help="the server's reports topic (Neutron's "
                             "topics.REPORTS is 'q-reports-plugin')")
    parser.add_argument('--exchange', required=True,
                        help='control_exchange')
    parser.add_argument('--url', required=True, help='transport_url')
    parser.add_argument('--mode', choices=('call', 'cast'), required=True)
    parser.add_argument('--count', type=int, default=3)
    parser.add_argument('--report-interval', type=float, default=1.0,
                        help='[AGENT] report_interval: the pause between '
                             'reports and the timeout of a call')
    parser.add_argument('--step', action='store_true',
                        help='wait for a line on stdin before each report')
    parser.add_argument('--device-count', type=int,
                        help="put configurations['devices'] = this count "
                             "in each report, as the OVS agent does")
    return parser.parse_args(argv)


def write_config(args, directory):
    """A neutron.conf, as an operator writes it for an agent."""
    path = os.path.join(directory, 'neutron.conf')
    with open(path, 'w') as conf:
        conf.write('[DEFAULT]\n'
                   'host = %s\n'
                   'transport_url = %s\n'
                   'control_exchange = %s\n'
                   '[AGENT]\n'
                   'report_interval = %s\n' % (
                       args.host, args.url, args.exchange,
                       args.report_interval))
    return path


def ovs_agent_state(conf, agent_type):
    """The OVS agent's agent_state (OVSNeutronAgent.__init__), on defaults."""
    from neutron.api.rpc.callbacks import resources
    from neutron_lib.api.definitions import portbindings
    from neutron_lib import constants as n_const

    return {
        'binary': n_const.AGENT_PROCESS_OVS,
        'host': conf.host,
        'topic': n_const.L2_AGENT_TOPIC,
        'configurations': {
            'bridge_mappings': {'physnet1': 'br-ex'},
            n_const.RP_BANDWIDTHS: {},
            n_const.RP_INVENTORY_DEFAULTS: {
                'allocation_ratio': 1.0, 'min_unit': 1, 'step_size': 1,
                'reserved': 0},
            n_const.RP_PP_WITHOUT_DIRECTION: {},
            n_const.RP_PP_WITH_DIRECTION: {},
            n_const.RP_PP_INVENTORY_DEFAULTS: {
                'allocation_ratio': 1.0, 'min_unit': 1, 'step_size': 1,
                'reserved': 0},
            'resource_provider_hypervisors': {},
            'integration_bridge': 'br-int',
            'tunnel_types': ['vxlan'],
            'tunneling_ip': '192.0.2.10',
            'l2_population': False,
            'arp_responder_enabled': False,
            'enable_distributed_routing': False,
            'log_agent_heartbeats': conf.AGENT.log_agent_heartbeats,
            'extensions': [],
            'datapath_type': 'system',
            'ovs_capabilities': [],
            'vhostuser_socket_dir': '/var/run/openvswitch',
            portbindings.OVS_HYBRID_PLUG: False,
            'baremetal_smartnic': False,
        },
        'resource_versions': resources.LOCAL_RESOURCE_VERSIONS,
        'agent_type': agent_type,
        'start_flag': True,
    }


def main(argv):
    args = parse_args(argv)
    out = sys.stdout
    sys.stdout = sys.stderr  # stdout carries our JSON lines only

    from neutron_lib import context
    from oslo_config import cfg

    from neutron.agent import rpc as agent_rpc
    from neutron.common import config as common_config
    from neutron.conf.agent import common as agent_config

    def emit(record):
        out.write(json.dumps(record) + '\n')
        out.flush()

    with tempfile.TemporaryDirectory() as directory:
        # As neutron.plugins.ml2.drivers.openvswitch.agent.main and
        # neutron.agent.l3_agent do: control_exchange defaults to 'neutron'
        # here, common_config.init parses the files and runs
        # neutron_lib.rpc.init(cfg.CONF).
        common_config.register_common_config_options()
        agent_config.register_agent_state_opts_helper(cfg.CONF)
        common_config.init(['--config-file', write_config(args, directory)])
    common_config.setup_logging()

    state_rpc = agent_rpc.PluginReportStateAPI(args.topic)
    ctx = context.get_admin_context_without_session()
    emit({'has_alive_neutron_server':
          state_rpc.has_alive_neutron_server(ctx)})

    agent_state = ovs_agent_state(cfg.CONF, args.agent_type)
    for number in range(1, args.count + 1):
        if args.step:
            if not sys.stdin.readline():
                break
        elif number > 1:
            time.sleep(cfg.CONF.AGENT.report_interval)
        if args.device_count is not None:
            agent_state['configurations']['devices'] = args.device_count
            agent_state['configurations']['in_distributed_mode'] = False
        reply = state_rpc.report_state(ctx, agent_state,
                                       use_call=args.mode == 'call')
        agent_state.pop('resource_versions', None)
        agent_state.pop('start_flag', None)
        emit({'report': number, 'mode': args.mode, 'reply': reply})
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
