"""ICMP echo from one address to another; prints how many were answered.

`python tests/netns_ping.py SOURCE DESTINATION [COUNT]`, run inside a
network namespace by `ip netns exec` (raw socket: root). The ping of
iputils, without the package: the kernel at the other end answers.
"""

import os
import socket
import struct
import sys
import time

PAYLOAD = b'agentsched-netns-ping'


def checksum(data):
    if len(data) % 2:
        data += b'\0'
    total = sum(struct.unpack('!%dH' % (len(data) // 2), data))
    total = (total >> 16) + (total & 0xffff)
    total += total >> 16
    return ~total & 0xffff


def ping(source, destination, count=3, timeout=2.0):
    sock = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
    sock.bind((source, 0))
    ident = os.getpid() & 0xffff
    answered = 0
    for sequence in range(count):
        header = struct.pack('!BBHHH', 8, 0, 0, ident, sequence)
        header = struct.pack('!BBHHH', 8, 0, checksum(header + PAYLOAD),
                             ident, sequence)
        try:
            sock.sendto(header + PAYLOAD, (destination, 0))
        except OSError:  # no route: the tunnel is not there
            continue
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            sock.settimeout(left)
            try:
                packet, (sender, _port) = sock.recvfrom(2048)
            except socket.timeout:
                break
            icmp = packet[(packet[0] & 0x0f) * 4:]
            kind, _code, _sum, their_ident, their_sequence = struct.unpack(
                '!BBHHH', icmp[:8])
            if (kind, their_ident, their_sequence, sender) == (
                    0, ident, sequence, destination):
                answered += 1
                break
    return answered


if __name__ == '__main__':
    print(ping(sys.argv[1], sys.argv[2],
               int(sys.argv[3]) if len(sys.argv) > 3 else 3))
