--[[
VGL-CA-0003: MFA fatigue / push bombing (MITRE T1621, Multi-Factor
Authentication Request Generation).

Someone who has the password keeps starting sign-ins so that the user gets
push after push until one is approved. In Entra ID sign-in logs each attempt
ends in an MFA result code: 500121 (strong authentication failed: denied or
not answered), 50074 / 50076 (MFA required, the prompt was sent). A normal
sign-in produces one or two of these; five within ten minutes for one user
is a prompt storm.
]]

return vigil.rule {
  id = "VGL-CA-0003",
  title = "MFA fatigue: repeated MFA prompts for one user",
  description = "At least 5 sign-ins for one user ended in an MFA challenge or an MFA " ..
    "failure (Entra 500121/50074/50076) within 10 minutes.",
  severity = "high",
  tactic = "Credential Access",
  technique = "T1621",
  tags = {"identity", "entra", "mfa"},
  where = {
    ["event.category"] = "authentication",
    ["error.code"] = {"500121", "50074", "50076"},
  },
  threshold = { by = "vigil.user", count = 5, window = "10m" },
  entities = { account = "vigil.user", ip = "source.ip" },
  suppress = "1h",
}
