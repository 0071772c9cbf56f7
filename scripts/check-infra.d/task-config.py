#!/usr/bin/env python3
"""Starts each binary's configuration exactly as ECS would give it.

Reads infra/ecs.tf and infra/secrets.tf: for each service (api, worker) the plain environment its
task definition declares (the common list, the locals its container concatenates, its own
entries) and the secrets it gets (app_secrets' `services`), fills variables and secrets with
placeholders of the right shape, and runs `weelo-api check-config` / `weelo-worker check-config`
with that environment alone. A Terraform change that would stop a service from starting (a
variable removed, a secret not granted, a value the binary refuses) fails here.

Usage: task-config.py API_BIN WORKER_BIN
"""
import re
import subprocess
import sys

ECS = open("infra/ecs.tf").read()
SECRETS = open("infra/secrets.tf").read()

# Placeholders in the shape each value must have (never real values).
SECRET_VALUES = {
    "DATABASE_URL": "postgres://weelo:placeholder@db.internal:5432/weelo",
    "REDIS_URL": "rediss://:placeholder@cache.internal:6379/?protocol=resp3",
    "WEELO_JWT_SECRET": "placeholder-placeholder-placeholder-0123456789",
    "WEELO_JWT_PREVIOUS_SECRET": "",
    "WEELO_FCM_CREDENTIALS": '{"type":"service_account","project_id":"placeholder"}',
    "WEELO_SMS_WEBHOOK_TOKEN": "placeholder",
}
VAR_VALUES = {
    "var.sms_webhook_url": "https://sms.example.invalid/send",
    "var.redis_prefix": "weelo",
    "tostring(var.broadcast_timeout_secs)": "7200",
}


def block(text, start):
    """The bracketed text after `start` (balanced [] or {})."""
    i = text.index(start) + len(start)
    while text[i] not in "[{":
        i += 1
    open_c = text[i]
    close_c = "]" if open_c == "[" else "}"
    depth = 0
    for j in range(i, len(text)):
        if text[j] == open_c:
            depth += 1
        elif text[j] == close_c:
            depth -= 1
            if depth == 0:
                return text[i:j + 1]
    raise SystemExit(f"unbalanced block after {start!r}")


def value(raw):
    raw = raw.strip()
    if raw.startswith('"'):
        # Interpolations become a plausible port/value.
        return re.sub(r"\$\{[^}]*\}", "8080", raw.strip('"'))
    if raw in VAR_VALUES:
        return VAR_VALUES[raw]
    raise SystemExit(f"task-config: no placeholder for {raw!r}; add one to VAR_VALUES")


def entries(text):
    return {m.group(1): value(m.group(2)) for m in
            re.finditer(r'\{\s*name\s*=\s*"([A-Z0-9_]+)"\s*,\s*value\s*=\s*("[^"]*"|[A-Za-z0-9_.()]+)\s*\}', text)}


common_block = block(ECS, "common_environment =")
common = {m.group(1): value(m.group(2)) for m in
          re.finditer(r"^\s*([A-Z0-9_]+)\s*=\s*(.+?)\s*$", block(common_block, "merge(var.app_environment,"), re.M)}
lists = {"common_environment": common}
for name in re.findall(r"^  ([a-z_]+_environment) = \[", ECS, re.M):
    if name != "common_environment":
        lists[name] = entries(block(ECS, f"{name} ="))

services = {}
for m in re.finditer(r'command\s*=\s*\["/usr/local/bin/weelo-(api|worker)"\]', ECS):
    service = m.group(1)
    rest = ECS[m.end():]
    env_expr = rest[rest.index("environment = concat("):]
    env_expr = env_expr[:env_expr.index("secrets")]
    env = {}
    for local in re.findall(r"local\.([a-z_]+_environment)", env_expr):
        env.update(lists[local])
    env.update(entries(env_expr))
    services[service] = env

granted = {}
for m in re.finditer(r"^\s{4}([A-Z0-9_]+)\s*=\s*\{(.*?)^\s{4}\}", SECRETS, re.M | re.S):
    svc = re.search(r"services\s*=\s*\[([^\]]*)\]", m.group(2))
    for s in re.findall(r'"(api|worker)"', svc.group(1) if svc else ""):
        granted.setdefault(s, []).append(m.group(1))

failed = []
for service, binary in (("api", sys.argv[1]), ("worker", sys.argv[2])):
    if service not in services:
        failed.append(f"{service}: no container runs weelo-{service} in infra/ecs.tf")
        continue
    env = dict(services[service])
    for key in granted.get(service, []):
        env[key] = SECRET_VALUES.get(key, "placeholder")
    env["PATH"] = "/usr/bin:/bin"
    shown = ", ".join(sorted(k for k in env if k != "PATH"))
    print(f"  {service}: {shown}")
    r = subprocess.run([binary, "check-config"], env=env, capture_output=True, text=True, timeout=60)
    if r.returncode != 0:
        failed.append(f"{service}: weelo-{service} check-config: {(r.stderr or r.stdout).strip().splitlines()[-1:]}")
    else:
        print(f"  {service}: configuration ok")
if failed:
    print("\n".join(failed))
    sys.exit(1)
