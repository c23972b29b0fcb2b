#!/usr/bin/env python3
"""Writes a weir config with HOSTS x PATHS routes (plus a catch-all) to one group, for
bench/instructions.sh and the route benchmarks: `route_config.py HOSTS PATHS > r.toml`.
The proxy and origin addresses are left as {proxy} and {origin} for the caller to fill.
Route h{i}.example + /p{j}/ has the name h{i}-p{j}; send Host: h{i}.example and a path
under /p{j}/ to hit it."""
import sys

hosts, paths = int(sys.argv[1]), int(sys.argv[2])
print('listen = "{proxy}"\nthreads = 1\n')
print('[upstreams.app]\nservers = ["{origin}"]\n')
print('[[middleware]]\nbuiltin = "balancer"\n')
for i in range(hosts):
    for j in range(paths):
        print(f'[[routes]]\nname = "h{i}-p{j}"\nhosts = ["h{i}.example"]\npath = "/p{j}/"\nupstream = "app"\n')
print('[[routes]]\nname = "catch-all"\nupstream = "app"')
