--[[
VGL-DI-0001: port scan (MITRE T1046, Network Service Discovery).

One source.ip reaches at least 25 different destination ports within 5
minutes, allowed or denied: NSG flow logs (one event per flow tuple), Sysmon
3, firewall logs. Covers vertical scans (many ports of one host) and mixed
scans; a horizontal sweep of one port is VGL-LM-0002 for admin ports.
]]

return vigil.rule {
  id = "VGL-DI-0001",
  title = "Port scan from one source",
  description = "One source IP connected or tried to connect to at least 25 different " ..
    "destination ports within 5 minutes.",
  severity = "medium",
  tactic = "Discovery",
  technique = "T1046",
  tags = {"network", "nsg"},
  where = {
    ["event.category"] = "network",
    ["destination.port"] = vigil.exists,
  },
  threshold = { by = "source.ip", distinct = "destination.port", count = 25, window = "5m" },
  entities = { ip = "source.ip" },
  suppress = "1h",
}
