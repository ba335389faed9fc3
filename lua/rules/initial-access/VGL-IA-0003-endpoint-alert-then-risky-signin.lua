--[[
VGL-IA-0003: high-severity endpoint alert, then a risky sign-in of the same
user (MITRE T1078.004, Valid Accounts: Cloud Accounts). Correlates two
sources through vigil.user, the normalized account name that both the
Defender plugin (the alert's user entity) and the Entra ID sign-in plugin set.

Step 1: a Defender / SecurityAlert alert of high or critical severity
(event.severity 4 or 5) naming the user. Step 2, within 24 hours: a sign-in
of that user that Entra ID rated medium or high risk, that is at risk, or
that came from a threat-intel-listed IP. Together: credentials taken on the
endpoint and used in the cloud.
]]

local risky_levels = { medium = true, high = true }
local risky_states = { atrisk = true, confirmedcompromised = true }

local function risky_signin(e)
  local level = e["azure.signin.risk_level"]
  if type(level) == "string" and risky_levels[level:lower()] then
    return true
  end
  local state = e["azure.signin.risk_state"]
  if type(state) == "string" and risky_states[state:lower()] then
    return true
  end
  return e["threat.indicator.matched.field"] == "source.ip"
end

return vigil.rule {
  id = "VGL-IA-0003",
  title = "Endpoint alert followed by a risky sign-in of the same user",
  description = "A high-severity endpoint alert named a user, and within 24 hours that " ..
    "user signed in with medium/high sign-in risk or from a threat-intel listed IP.",
  severity = "high",
  tactic = "Initial Access",
  technique = "T1078.004",
  tags = {"correlation", "defender", "entra", "identity"},
  where = {
    ["event.category"] = {"intrusion_detection", "authentication"},
    ["vigil.user"] = vigil.exists,
  },
  sequence = {
    by = "vigil.user",
    within = "24h",
    steps = {
      { where = { ["event.kind"] = "alert", ["event.severity"] = vigil.gt(3) } },
      { where = { ["event.category"] = "authentication" }, match = risky_signin },
    },
  },
  entities = { account = "vigil.user", host = "vigil.host", ip = "source.ip" },
  suppress = "24h",
}
