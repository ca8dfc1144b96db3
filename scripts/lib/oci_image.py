#!/usr/bin/env python3
"""An OCI image archive (what scripts/images.sh writes) read without a container runtime.

  oci_image.py config ARCHIVE           the image's config JSON (entrypoint, cmd, user, env, ...)
  oci_image.py size ARCHIVE             compressed and unpacked size of its layers, in bytes
  oci_image.py unpack ARCHIVE DIR       its root filesystem, layer by layer, owners kept
  oci_image.py run DIR CONFIG [-e K=V]... [-- ARG...]
                                        runs the image's process as a runtime would: chroot to DIR,
                                        the config's user (names looked up in DIR/etc/passwd),
                                        working directory and environment (plus -e), entrypoint
                                        and cmd (ARGs replace cmd). Run it under
                                        `unshare --mount --propagation private`: /dev and /proc are
                                        bind-mounted into DIR and vanish with the namespace.
"""

import json
import os
import subprocess
import sys
import tarfile


def blob(archive, digest):
    algorithm, value = digest.split(":", 1)
    member = archive.extractfile(f"blobs/{algorithm}/{value}")
    if member is None:
        raise SystemExit(f"oci_image: {digest} is not in the archive")
    return member


def manifest(archive):
    index = json.load(archive.extractfile("index.json"))
    manifests = index.get("manifests", [])
    if len(manifests) != 1:
        raise SystemExit(f"oci_image: expected one manifest, found {len(manifests)}")
    return json.load(blob(archive, manifests[0]["digest"]))


def config(path):
    with tarfile.open(path) as archive:
        return json.load(blob(archive, manifest(archive)["config"]["digest"]))


def size(path):
    packed = unpacked = 0
    with tarfile.open(path) as archive:
        for layer in manifest(archive)["layers"]:
            packed += layer["size"]
            with tarfile.open(fileobj=blob(archive, layer["digest"]), mode="r:*") as tar:
                unpacked += sum(m.size for m in tar.getmembers() if m.isfile())
    return {"compressed": packed, "unpacked": unpacked}


def unpack(path, target):
    os.makedirs(target, exist_ok=True)
    with tarfile.open(path) as archive:
        for layer in manifest(archive)["layers"]:
            with tarfile.open(fileobj=blob(archive, layer["digest"]), mode="r:*") as tar:
                # The images are built here from scratch in one layer: no whiteouts to apply.
                tar.extractall(target, numeric_owner=True, filter="fully_trusted")


def lookup(root, user):
    """uid, gid of an OCI `User` (name or number, optionally :group) in the image's files."""
    name, _, group = user.partition(":")

    def find(file, key):
        if key.isdigit():
            return int(key), None
        with open(os.path.join(root, "etc", file)) as f:
            for line in f:
                fields = line.rstrip("\n").split(":")
                if fields[0] == key:
                    return int(fields[2]), (int(fields[3]) if file == "passwd" else None)
        raise SystemExit(f"oci_image: {key} is not in the image's /etc/{file}")

    uid, primary = find("passwd", name or "0")
    gid = find("group", group)[0] if group else (primary if primary is not None else uid)
    return uid, gid


def run(root, config_path, args):
    with open(config_path) as f:
        image = json.load(f).get("config", {})
    env = dict(e.split("=", 1) for e in image.get("Env") or [])
    while args and args[0] == "-e":
        key, _, value = args[1].partition("=")
        env[key] = value
        args = args[2:]
    if args and args[0] == "--":
        args = args[1:]
    argv = (image.get("Entrypoint") or []) + (args or image.get("Cmd") or [])
    if not argv:
        raise SystemExit("oci_image: the image has no entrypoint or cmd")
    uid, gid = lookup(root, image.get("User") or "0")
    for sub in ("dev", "proc"):
        os.makedirs(os.path.join(root, sub), exist_ok=True)
        subprocess.run(["mount", "--rbind", f"/{sub}", os.path.join(root, sub)], check=True)
    os.chroot(root)
    os.chdir(image.get("WorkingDir") or "/")
    os.setgroups([])
    os.setgid(gid)
    os.setuid(uid)
    os.execvpe(argv[0], argv, env)


def main(argv):
    if len(argv) >= 2 and argv[0] == "config":
        json.dump(config(argv[1]), sys.stdout)
    elif len(argv) >= 2 and argv[0] == "size":
        json.dump(size(argv[1]), sys.stdout)
    elif len(argv) >= 3 and argv[0] == "unpack":
        unpack(argv[1], argv[2])
    elif len(argv) >= 3 and argv[0] == "run":
        run(argv[1], argv[2], argv[3:])
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
