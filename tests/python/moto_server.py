"""A local S3 server for the tests (moto's server mode), on 127.0.0.1 and a free port.

Prints the port, then serves until its standard input closes: the test process holds the
other end, so the server stops when the tests end, however they end.
"""
import sys

from moto.server import ThreadedMotoServer

server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
server.start()
print(server.get_host_and_port()[1], flush=True)
sys.stdin.read()
server.stop()
