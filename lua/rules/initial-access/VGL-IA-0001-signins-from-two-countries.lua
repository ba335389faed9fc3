--[[
VGL-IA-0001: successful sign-ins of one account from two countries within an
hour (MITRE T1078, Valid Accounts; "impossible travel").

The countries come from the sign-in log (Entra ID `location`) or from the
enrich-geoip plugin (source.geo.country_iso_code). A stolen password or
session used from abroad shows up as a second country next to the owner's.
VPN egress and travel also do: see docs/rule-pack.md for tuning, and
VGL-IA-0004 for the distance/speed check.
]]

return vigil.rule {
  id = "VGL-IA-0001",
  title = "Sign-ins from two countries within an hour",
  description = "One account signed in successfully from at least two different countries " ..
    "within 1 hour.",
  severity = "medium",
  tactic = "Initial Access",
  technique = "T1078",
  tags = {"identity", "entra", "impossible-travel"},
  where = {
    ["event.category"] = "authentication",
    ["event.outcome"] = "success",
    ["source.geo.country_iso_code"] = vigil.exists,
  },
  threshold = {
    by = "vigil.user", distinct = "source.geo.country_iso_code", count = 2, window = "1h",
  },
  entities = { account = "vigil.user", ip = "source.ip" },
  suppress = "6h",
}
