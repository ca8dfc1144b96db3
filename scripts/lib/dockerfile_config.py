#!/usr/bin/env python3
"""What a Dockerfile's final stage sets in its image's config, compared with a built image.

  dockerfile_config.py parse DOCKERFILE
      the final stage's ENTRYPOINT, CMD, USER, EXPOSE, WORKDIR, ENV and STOPSIGNAL as OCI config
      fields (Entrypoint, Cmd, User, ExposedPorts, WorkingDir, Env, StopSignal), as JSON
  dockerfile_config.py compare DOCKERFILE IMAGE_CONFIG_JSON [BASE_JSON]
      the image's config against the Dockerfile's, over BASE_JSON (what the stage's FROM image
      sets that the Dockerfile does not, e.g. distroless's PATH); prints each field, exits 1 on
      any difference. Env: every expected variable with its value, and no other.
"""

import json
import shlex
import sys

FIELDS = ["Entrypoint", "Cmd", "User", "ExposedPorts", "WorkingDir", "Env", "StopSignal"]


def instructions(text):
    """(INSTRUCTION, arguments) of each line, continuations joined, comments dropped."""
    out, pending = [], ""
    for raw in text.splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line, pending = pending + line, ""
        word, _, rest = line.partition(" ")
        out.append((word.upper(), rest.strip()))
    return out


def command(arguments):
    """JSON (exec) form as is; shell form as Docker runs it."""
    if arguments.startswith("["):
        return json.loads(arguments)
    return ["/bin/sh", "-c", arguments]


def env_pairs(arguments):
    words = shlex.split(arguments)
    if words and "=" not in words[0]:  # legacy `ENV KEY value words`
        return {words[0]: arguments.split(None, 1)[1] if len(words) > 1 else ""}
    return dict(w.split("=", 1) for w in words)


def parse(path):
    with open(path) as f:
        steps = instructions(f.read())
    last = max(i for i, (word, _) in enumerate(steps) if word == "FROM")
    config = {}
    for word, arguments in steps[last + 1 :]:
        if word == "ENTRYPOINT":
            config["Entrypoint"] = command(arguments)
            config.pop("Cmd", None)  # Docker: a new ENTRYPOINT clears an inherited CMD
        elif word == "CMD":
            config["Cmd"] = command(arguments)
        elif word == "USER":
            config["User"] = arguments
        elif word == "EXPOSE":
            ports = config.setdefault("ExposedPorts", [])
            for port in arguments.split():
                ports.append(port if "/" in port else f"{port}/tcp")
        elif word == "WORKDIR":
            config["WorkingDir"] = arguments
        elif word == "ENV":
            config.setdefault("Env", {}).update(env_pairs(arguments))
        elif word == "STOPSIGNAL":
            config["StopSignal"] = arguments
    return config


def image_fields(config):
    c = config.get("config", {})
    env = dict(e.split("=", 1) for e in c.get("Env") or [])
    return {
        "Entrypoint": c.get("Entrypoint") or None,
        "Cmd": c.get("Cmd") or None,
        "User": c.get("User") or None,
        "ExposedPorts": sorted(c.get("ExposedPorts") or {}) or None,
        "WorkingDir": c.get("WorkingDir") or None,
        "Env": env or None,
        "StopSignal": c.get("StopSignal") or None,
    }


def compare(dockerfile, image_path, base_json):
    expected = json.loads(base_json) if base_json else {}
    own = parse(dockerfile)
    env = dict(expected.get("Env", {}))
    env.update(own.pop("Env", {}))
    expected.update(own)
    if env:
        expected["Env"] = env
    if "ExposedPorts" in expected:
        expected["ExposedPorts"] = sorted(expected["ExposedPorts"])
    with open(image_path) as f:
        actual = image_fields(json.load(f))
    failed = False
    for field in FIELDS:
        want, got = expected.get(field), actual[field]
        ok = want == got
        failed |= not ok
        print(f"  {'ok  ' if ok else 'DIFF'} {field}: dockerfile {json.dumps(want)}"
              + ("" if ok else f", image {json.dumps(got)}"))
    return 1 if failed else 0


def main(argv):
    if len(argv) == 2 and argv[0] == "parse":
        json.dump(parse(argv[1]), sys.stdout)
        return 0
    if len(argv) in (3, 4) and argv[0] == "compare":
        return compare(argv[1], argv[2], argv[3] if len(argv) == 4 else "")
    raise SystemExit(__doc__)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
