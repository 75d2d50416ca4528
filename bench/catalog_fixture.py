#!/usr/bin/env python3
"""Writes COUNT empty repositories straight to disk, in zot's OCI layout, twice:
all of them into one node's root (the single-node baseline), and each one into
the root of the member that owns it by the gateway's own placement, as
`flotilla-gateway verify-config` prints it.

  catalog_fixture.py GATEWAY_BIN GATEWAY_CONFIG COUNT SINGLE_ROOT MEMBER=ROOT...

Names are `nsNNN/repoNNN`, 1000 to a namespace, as an organisation's
repositories nest. Prints how many landed on each member.
"""

import os
import subprocess
import sys
import time

LAYOUT = b'{"imageLayoutVersion":"1.0.0"}'
INDEX = b'{"schemaVersion":2,"manifests":[]}'
BATCH = 5000  # names per verify-config call, far below ARG_MAX


def names(count):
    return [f"ns{i // 1000:03d}/repo{i % 1000:03d}" for i in range(count)]


def owners(tool, gateway, config, repos):
    """repo -> member, asked of the gateway binary itself."""
    out = {}
    for start in range(0, len(repos), BATCH):
        batch = repos[start:start + BATCH]
        text = subprocess.run([gateway, "verify-config", config, *batch], check=True,
                              capture_output=True, text=True).stdout
        for line in text.splitlines():
            repo, sep, member = line.partition(" -> ")
            if sep:
                out[repo] = member.strip()
    missing = [r for r in repos if r not in out]
    if missing:
        sys.exit(f"{tool}: verify-config named no owner for {missing[:3]}…")
    return out


def write_repo(root, repo):
    path = os.path.join(root, repo)
    os.makedirs(os.path.join(path, "blobs", "sha256"), exist_ok=True)
    for name, data in (("oci-layout", LAYOUT), ("index.json", INDEX)):
        with open(os.path.join(path, name), "wb") as f:
            f.write(data)


def write_spread(tool, what, make_writer):
    """The fixture scripts' shared run: reads the command line (see the module
    docstring), asks the gateway which member owns each repository, and has
    the writer `make_writer(count, single_root)` returns put repository i into
    its owner's root and the single node's root: `write(i, repo, roots)`.
    Prints how many landed on each member."""
    gateway, config, count, single = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    roots = dict(arg.split("=", 1) for arg in sys.argv[5:])
    started = time.monotonic()
    repos = names(count)
    owner = owners(tool, gateway, config, repos)
    write = make_writer(count, single)
    per_member = {m: 0 for m in roots}
    for i, repo in enumerate(repos):
        member = owner[repo]
        if member not in roots:
            sys.exit(f"{tool}: {repo} owned by {member}, which has no root given")
        write(i, repo, (roots[member], single))
        per_member[member] += 1
    spread = ", ".join(f"{m}: {n}" for m, n in per_member.items())
    print(f"{count} {what} written in {time.monotonic() - started:.1f}s ({spread})")


def main():
    def write(_i, repo, roots):
        for root in roots:
            write_repo(root, repo)

    write_spread("catalog_fixture", "repositories", lambda _count, _single: write)


if __name__ == "__main__":
    main()
