--[[
VGL-DE-0001: Kerberos TGT requested with RC4 encryption (MITRE T1550.002,
Use Alternate Authentication Material: Pass the Hash; "overpass-the-hash").

Security 4768 (on the domain controllers) for a user account with
TicketEncryptionType 0x17 (RC4-HMAC) and Status 0x0. With the NT hash alone
an attacker can only ask for RC4 tickets (Rubeus asktgt /rc4:, mimikatz
sekurlsa::pth), while current Windows clients ask for AES. Domains that
still have RC4-only accounts or old clients must list them (see
docs/rule-pack.md).
]]

return vigil.rule {
  id = "VGL-DE-0001",
  title = "Kerberos TGT requested with RC4 (possible overpass-the-hash)",
  description = "A user account obtained a Kerberos TGT with RC4-HMAC encryption (4768, " ..
    "0x17), as tools that authenticate with a stolen NT hash do.",
  severity = "medium",
  tactic = "Defense Evasion",
  technique = "T1550.002",
  tags = {"windows", "active-directory", "kerberos"},
  where = {
    ["event.action"] = "kerberos-authentication-ticket-requested",
    ["winlog.event_data.TicketEncryptionType"] = {"0x17", "0x18"},
    ["winlog.event_data.Status"] = "0x0",
    ["user.name"] = vigil.neg { vigil.endswith "$", "krbtgt" },
  },
  entities = { account = "vigil.user", ip = "source.ip" },
  suppress = "1h",
}
