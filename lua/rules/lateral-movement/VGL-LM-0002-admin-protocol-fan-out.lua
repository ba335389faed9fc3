--[[
VGL-LM-0002: one source connects to many hosts over SMB, RDP or WinRM
(MITRE T1021, Remote Services: T1021.001 RDP, .002 SMB, .006 WinRM).

Network connections (NSG flow logs, Sysmon 3, Defender for Endpoint network
events) from one source.ip to at least 10 different destination.ip on ports
445, 3389, 5985 or 5986 within 10 minutes. Flows the NSG denied are left
out (they did not reach a host; the port scan rule sees them).
]]

return vigil.rule {
  id = "VGL-LM-0002",
  title = "SMB/RDP/WinRM connections from one source to many hosts",
  description = "One source connected to at least 10 different hosts on 445, 3389, 5985 or " ..
    "5986 within 10 minutes.",
  severity = "medium",
  tactic = "Lateral Movement",
  technique = "T1021",
  tags = {"network", "nsg", "sysmon", "lateral-movement"},
  where = {
    ["event.category"] = "network",
    ["destination.port"] = {445, 3389, 5985, 5986},
    ["event.type"] = vigil.neg "denied",
  },
  threshold = { by = "source.ip", distinct = "destination.ip", count = 10, window = "10m" },
  entities = { ip = "source.ip", host = "vigil.host" },
  suppress = "1h",
}
