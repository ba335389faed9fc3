--[[
VGL-CA-0004: Kerberoasting (MITRE T1558.003).

An account requests service tickets for many different services with RC4
encryption (TicketEncryptionType 0x17, or 0x18 RC4-HMAC-EXP) in a short
time: the tickets are encrypted with the service accounts' password hashes
and are cracked offline. Windows Security 4769 on the domain controllers;
service.name is the requested service and vigil.user the requester.
Computer accounts (NAME$) and krbtgt are not roastable targets.
]]

return vigil.rule {
  id = "VGL-CA-0004",
  title = "Kerberoasting: RC4 service tickets for many services",
  description = "One account requested RC4-encrypted Kerberos service tickets (4769, " ..
    "encryption 0x17) for at least 5 different services within 10 minutes.",
  severity = "high",
  tactic = "Credential Access",
  technique = "T1558.003",
  tags = {"windows", "active-directory", "kerberos"},
  where = {
    ["event.action"] = "kerberos-service-ticket-requested",
    ["winlog.event_data.TicketEncryptionType"] = {"0x17", "0x18"},
    ["service.name"] = vigil.neg { vigil.endswith "$", "krbtgt" },
  },
  threshold = { by = "vigil.user", distinct = "service.name", count = 5, window = "10m" },
  entities = { account = "vigil.user", ip = "source.ip" },
  suppress = "1h",
}
