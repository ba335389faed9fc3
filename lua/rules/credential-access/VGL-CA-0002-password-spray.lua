--[[
VGL-CA-0002: password spray from one source (MITRE T1110.003).

One source address fails to sign in as many different accounts in a short
time: one or two passwords tried across the directory, which stays under
per-account lockout. Counts distinct user.name values per source.ip, so a
single account retried many times (VGL-CA-0001) does not count here.
]]

local not_a_guess = {
  "50072", "50074", "50076", "50079", "50097", "50125", "50140", "50158", "50199",
  "500121", "53000", "53001", "53002", "53003", "53004", "65001",
  "16000", "16001", "16003", "81010", "81012", "81016",
}

return vigil.rule {
  id = "VGL-CA-0002",
  title = "Password spray from one source",
  description = "One source IP failed to sign in as at least 10 different accounts within " ..
    "10 minutes.",
  severity = "high",
  tactic = "Credential Access",
  technique = "T1110.003",
  tags = {"identity", "entra", "windows"},
  where = {
    ["event.category"] = "authentication",
    ["event.outcome"] = "failure",
    ["error.code"] = vigil.neg(not_a_guess),
  },
  threshold = { by = "source.ip", distinct = "user.name", count = 10, window = "10m" },
  entities = { ip = "source.ip" },
  suppress = "1h",
}
