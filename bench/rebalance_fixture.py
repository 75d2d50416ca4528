#!/usr/bin/env python3
"""Writes COUNT repositories, each one image (`:v1`) of one random layer of
BYTES bytes, straight to disk in zot's OCI layout, each into the root of the
member that owns it by the gateway's own placement.

  rebalance_fixture.py GATEWAY_BIN GATEWAY_CONFIG COUNT BYTES MEMBER=ROOT...

Prints how many landed on each member.
"""

import hashlib
import json
import os
import sys
import time

from catalog_fixture import names, owners

LAYOUT = b'{"imageLayoutVersion":"1.0.0"}'


def blob(root, data):
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    with open(os.path.join(root, "blobs", "sha256", digest[7:]), "wb") as f:
        f.write(data)
    return {"digest": digest, "size": len(data)}


def write_image(root, size):
    os.makedirs(os.path.join(root, "blobs", "sha256"), exist_ok=True)
    layer = blob(root, os.urandom(size))
    layer["mediaType"] = "application/vnd.oci.image.layer.v1.tar"
    config = blob(root, json.dumps({
        "created": "2025-01-01T00:00:00Z", "architecture": "amd64", "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": [layer["digest"]]},
    }).encode())
    config["mediaType"] = "application/vnd.oci.image.config.v1+json"
    manifest = blob(root, json.dumps({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": config, "layers": [layer],
    }).encode())
    manifest["mediaType"] = "application/vnd.oci.image.manifest.v1+json"
    manifest["annotations"] = {"org.opencontainers.image.ref.name": "v1"}
    with open(os.path.join(root, "oci-layout"), "wb") as f:
        f.write(LAYOUT)
    with open(os.path.join(root, "index.json"), "w") as f:
        json.dump({"schemaVersion": 2, "manifests": [manifest]}, f)


def main():
    gateway, config, count, size = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    roots = dict(arg.split("=", 1) for arg in sys.argv[5:])
    started = time.monotonic()
    repos = names(count)
    owner = owners("rebalance_fixture", gateway, config, repos)
    per_member = {m: 0 for m in roots}
    for repo in repos:
        write_image(os.path.join(roots[owner[repo]], repo), size)
        per_member[owner[repo]] += 1
    spread = ", ".join(f"{m}: {n}" for m, n in per_member.items())
    print(f"{count} repositories of {size} bytes written in {time.monotonic() - started:.1f}s ({spread})")


if __name__ == "__main__":
    main()
