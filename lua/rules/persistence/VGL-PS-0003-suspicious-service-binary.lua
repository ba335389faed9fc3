--[[
VGL-PS-0003: service installed with a suspicious binary path (MITRE
T1543.003; also T1569.002 service execution).

A 7045/4697 whose ImagePath (file.path) is a shell or script host, a
user-writable folder, or an admin share: what PsExec-like tools, Impacket,
Metasploit and Cobalt Strike create. Installers put services under Program
Files or System32 with a plain executable.
]]

return vigil.rule {
  id = "VGL-PS-0003",
  title = "Service installed with a suspicious binary path",
  description = "A new service runs a command shell, a script host, or a binary from a " ..
    "temporary, public, user profile or admin-share path.",
  severity = "high",
  tactic = "Persistence",
  technique = "T1543.003",
  tags = {"windows", "service", "lateral-movement"},
  where = {
    ["event.action"] = "service-installed",
    ["file.path"] = {
      vigil.re [=[(^|[\/[:space:]"])(cmd|powershell|pwsh|mshta|rundll32|regsvr32|wscript|cscript)(\.exe)?"?([[:space:]]|$)]=],
      vigil.contains "%comspec%",
      vigil.contains [[\temp\]],
      vigil.contains [[\users\public\]],
      vigil.contains [[\appdata\]],
      vigil.contains [[\programdata\]],
      vigil.contains [[\admin$\]],
      vigil.startswith [[\\]],
    },
  },
  entities = { host = "vigil.host", account = "vigil.user", process = "file.path" },
  suppress = "1h",
}
