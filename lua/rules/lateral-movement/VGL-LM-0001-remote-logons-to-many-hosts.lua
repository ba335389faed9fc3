--[[
VGL-LM-0001: one account logs on remotely to many hosts (MITRE T1021,
Remote Services).

Successful Windows logons of type 3 (network: SMB, WinRM, WMI, PsExec) or
10 (RemoteInteractive: RDP) by one account on at least 5 different hosts
within 15 minutes: an intruder (or a worm) moving through the estate with
one set of credentials. Machine accounts and ANONYMOUS LOGON are left out.
Management servers, backup and vulnerability scanner accounts do this by
design: list them in the user.name exclusion.
]]

return vigil.rule {
  id = "VGL-LM-0001",
  title = "Remote logons by one account to many hosts",
  description = "One account logged on over the network or RDP to at least 5 different " ..
    "hosts within 15 minutes.",
  severity = "medium",
  tactic = "Lateral Movement",
  technique = "T1021",
  tags = {"windows", "lateral-movement"},
  where = {
    ["event.action"] = "logged-in",
    ["event.outcome"] = "success",
    ["winlog.logon.type"] = {"3", "10"},
    ["user.name"] = vigil.neg { vigil.endswith "$", "ANONYMOUS LOGON", "-" },
  },
  threshold = { by = "vigil.user", distinct = "vigil.host", count = 5, window = "15m" },
  entities = { account = "vigil.user", ip = "source.ip" },
  suppress = "1h",
}
