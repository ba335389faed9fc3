--[[
VGL-IA-0002: successful sign-in from a threat-intelligence-listed address
(MITRE T1078, Valid Accounts).

The enrich-threatintel plugin marks events whose source.ip is on an indicator
list (threat.indicator.matched.field = "source.ip"). A successful sign-in
from such an address means someone on attacker infrastructure holds working
credentials. Failed attempts from listed addresses are left to the brute
force and spray rules.
]]

return vigil.rule {
  id = "VGL-IA-0002",
  title = "Successful sign-in from a threat-intel listed IP",
  description = "An account signed in successfully from an IP address that is on a threat " ..
    "intelligence indicator list.",
  severity = "high",
  tactic = "Initial Access",
  technique = "T1078",
  tags = {"identity", "threat-intel"},
  where = {
    ["event.category"] = "authentication",
    ["event.outcome"] = "success",
    ["threat.indicator.matched.field"] = "source.ip",
  },
  entities = { account = "vigil.user", ip = "source.ip" },
  suppress = "1h",
}
