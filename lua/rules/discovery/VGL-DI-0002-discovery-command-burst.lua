--[[
VGL-DI-0002: burst of discovery commands by one account on one host (MITRE
T1087 Account Discovery, with T1033, T1069, T1016, T1049, T1082).

After landing, an intruder (or the implant's operator) asks who am I, who
are the admins, which domain and which hosts: whoami, net user /domain,
net group "Domain Admins", net localgroup administrators, nltest, ipconfig
/all, netstat, systeminfo... Admins run one or two of these; five different
command lines from one account on one host within 10 minutes is a hands-on
recon session. net1.exe started by net.exe repeats its parent's command and
is not counted twice; the same command repeated (a monitoring script) counts
once.
]]

return vigil.rule {
  id = "VGL-DI-0002",
  title = "Burst of discovery commands on one host",
  description = "One account ran at least 5 different discovery commands (whoami, net, " ..
    "nltest, ipconfig, systeminfo, ...) on one host within 10 minutes.",
  severity = "medium",
  tactic = "Discovery",
  technique = "T1087",
  tags = {"windows", "process", "recon"},
  where = {
    ["event.category"] = "process",
    ["process.name"] = {
      "whoami.exe", "net.exe", "net1.exe", "nltest.exe", "systeminfo.exe", "ipconfig.exe",
      "quser.exe", "qwinsta.exe", "query.exe", "tasklist.exe", "hostname.exe", "netstat.exe",
      "arp.exe", "route.exe", "nslookup.exe", "nbtstat.exe", "dsquery.exe", "klist.exe",
      "cmdkey.exe", "setspn.exe", "adfind.exe", "gpresult.exe",
    },
    ["process.parent.name"] = vigil.neg "net.exe",
    -- changes are not discovery: net user x /add, net use x: /delete, mapping a
    -- drive (net use q: \\host\share), creating a share (net share name=path)
    ["process.command_line"] = vigil.neg {
      vigil.contains " /add", vigil.contains " /delete",
      vigil.re [==[net1?(\.exe)?"?[[:space:]]+(use[[:space:]]+[a-z*]:|share[[:space:]]+[^[:space:]=]+=)]==],
    },
  },
  threshold = {
    by = {"vigil.host", "vigil.user"}, distinct = "process.command_line", count = 5,
    window = "10m",
  },
  entities = { host = "vigil.host", account = "vigil.user" },
  suppress = "1h",
}
