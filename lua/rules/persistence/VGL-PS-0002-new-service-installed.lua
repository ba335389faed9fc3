--[[
VGL-PS-0002: new Windows service installed (MITRE T1543.003, Create or
Modify System Process: Windows Service).

System 7045 ("A service was installed in the system") and Security 4697.
Services run as SYSTEM and start with the machine: a common way to persist
and to run code remotely (PsExec, Impacket smbexec/psexec, Cobalt Strike
jump). Software installs also add services: the suppression keeps one alert
per host and service a day; VGL-PS-0003 raises the severity for binary paths
that no installer uses.
]]

return vigil.rule {
  id = "VGL-PS-0002",
  title = "New service installed",
  description = "A new Windows service was installed (7045/4697).",
  severity = "low",
  tactic = "Persistence",
  technique = "T1543.003",
  tags = {"windows", "service"},
  where = {
    ["event.action"] = "service-installed",
  },
  entities = { host = "vigil.host", account = "vigil.user", process = "file.path" },
  suppress = "24h",
}
