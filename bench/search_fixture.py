#!/usr/bin/env python3
"""Writes COUNT repositories, each holding one small tagged image (`v1`),
straight to disk in zot's OCI layout, twice: all of them into one node's root
(the single-node baseline), and each one into the root of the member that
owns it by the gateway's own placement (`flotilla-gateway verify-config`,
through catalog_fixture.owners).

  search_fixture.py GATEWAY_BIN GATEWAY_CONFIG COUNT SINGLE_ROOT MEMBER=ROOT...

Every image's config has its own `created` time, a permutation of COUNT
seconds from 2100-01-01 that is not the name order, so UPDATE_TIME ordering
is meaningful and has no ties (see BASE). The one-KiB layer is the same blob everywhere (hard-linked, a fresh copy
whenever the file system's link limit is reached).
A node with search enabled builds its metadata from these files at start.
Prints how many landed on each member.
"""

import errno
import hashlib
import json
import math
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from catalog_fixture import LAYOUT, write_spread  # noqa: E402

MANIFEST = "application/vnd.oci.image.manifest.v1+json"
CONFIG = "application/vnd.oci.image.config.v1+json"
LAYER = "application/vnd.oci.image.layer.v1.tar"
# A repository's LastUpdated (what UPDATE_TIME sorts on) is the later of its
# newest image's `created` and its tags' times; a node rebuilding from storage
# stamps every tag with the time of the rebuild, which would make all
# repositories tie (and members tie at different times). `created` times in
# the future win over that stamp, so the order is the fixture's own.
BASE = 4102444800  # 2100-01-01T00:00:00Z


def dumps(obj):
    return json.dumps(obj, separators=(",", ":")).encode()


def sha(data):
    return hashlib.sha256(data).hexdigest()


def stride(count):
    """A multiplier coprime to count: i -> i*m mod count is a permutation."""
    m = 7919
    while math.gcd(m, count) != 1:
        m += 2
    return m


def created(i, count, m):
    t = BASE + (i * m) % count
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


class Writer:
    def __init__(self, layer_path, layer):
        self.layer_path, self.layer = layer_path, layer
        self.layer_hex, self.layer_size = sha(layer), len(layer)

    def image(self, i, count, m):
        """(config, manifest, index) bytes and the digests of the first two."""
        config = dumps({
            "created": created(i, count, m),
            "architecture": "amd64",
            "os": "linux",
            "rootfs": {"type": "layers", "diff_ids": [f"sha256:{self.layer_hex}"]},
        })
        chex = sha(config)
        manifest = dumps({
            "schemaVersion": 2,
            "mediaType": MANIFEST,
            "config": {"mediaType": CONFIG, "digest": f"sha256:{chex}", "size": len(config)},
            "layers": [{"mediaType": LAYER, "digest": f"sha256:{self.layer_hex}",
                        "size": self.layer_size}],
        })
        mhex = sha(manifest)
        index = dumps({
            "schemaVersion": 2,
            "manifests": [{
                "mediaType": MANIFEST,
                "digest": f"sha256:{mhex}",
                "size": len(manifest),
                "annotations": {"org.opencontainers.image.ref.name": "v1"},
            }],
        })
        return config, chex, manifest, mhex, index

    def write(self, root, repo, image):
        config, chex, manifest, mhex, index = image
        path = os.path.join(root, repo)
        blobs = os.path.join(path, "blobs", "sha256")
        os.makedirs(blobs, exist_ok=True)
        for name, data in ((os.path.join(blobs, chex), config),
                           (os.path.join(blobs, mhex), manifest),
                           (os.path.join(path, "oci-layout"), LAYOUT),
                           (os.path.join(path, "index.json"), index)):  # index last, as a push does
            with open(name, "wb") as f:
                f.write(data)
        layer = os.path.join(blobs, self.layer_hex)
        if not os.path.exists(layer):
            try:
                os.link(self.layer_path, layer)
            except OSError as err:
                if err.errno != errno.EMLINK:
                    raise
                with open(layer, "wb") as f:  # the file system's link limit: a fresh copy
                    f.write(self.layer)
                self.layer_path = layer  # ... that the next ones link to


def main():
    def make_writer(count, single):
        layer = bytes(range(256)) * 4
        layer_path = os.path.join(os.path.dirname(os.path.abspath(single)), "search-fixture.layer")
        with open(layer_path, "wb") as f:
            f.write(layer)
        writer, m = Writer(layer_path, layer), stride(count)

        def write(i, repo, roots):
            image = writer.image(i, count, m)
            for root in roots:
                writer.write(root, repo, image)
        return write

    write_spread("search_fixture", "repositories (one image each)", make_writer)


if __name__ == "__main__":
    main()
