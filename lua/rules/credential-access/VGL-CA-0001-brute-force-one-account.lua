--[[
VGL-CA-0001: brute force against one account (MITRE T1110.001, Password Guessing).

Many failed sign-ins for the same account in a short time, from any source
that normalizes authentication events: Windows Security 4625, Entra ID
sign-ins, Defender for Endpoint logons. Entra "interrupts" (MFA required,
keep-me-signed-in, consent, device or conditional-access checks) are failures
in the log but not password guesses, so they do not count; MFA outcomes are
the business of VGL-CA-0003. Machine accounts (NAME$) are left out.
]]

-- Entra ResultTypes that are not a wrong password
local not_a_guess = {
  "50072", "50074", "50076", "50079", "50097", "50125", "50140", "50158", "50199",
  "500121", "53000", "53001", "53002", "53003", "53004", "65001",
  "16000", "16001", "16003", "81010", "81012", "81016",
}

return vigil.rule {
  id = "VGL-CA-0001",
  title = "Brute force against one account",
  description = "At least 10 failed sign-ins for one account within 10 minutes: password " ..
    "guessing against that account (or a client with a stale password).",
  severity = "medium",
  tactic = "Credential Access",
  technique = "T1110.001",
  tags = {"identity", "windows", "entra"},
  where = {
    ["event.category"] = "authentication",
    ["event.outcome"] = "failure",
    ["error.code"] = vigil.neg(not_a_guess),
    ["user.name"] = vigil.neg(vigil.endswith "$"),
  },
  threshold = { by = "vigil.user", count = 10, window = "10m" },
  entities = { account = "vigil.user", ip = "source.ip" },
  suppress = "1h",
}
