"""ISO 4217 currency codes: the active list (ISO 4217 amendments through 2024, with ZWG and XCG), so a
budget in `XYZ` or `EUR0` is an error rather than a silently unbilled currency.

Codes that are not money (precious metals XAU XAG XPD XPT, bond-market units XBA-XBD, the test code XTS
and XXX "no currency") are kept apart: a budget in them is refused with its own message.
"""
from __future__ import annotations

ISO_4217 = frozenset("""
AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BOV BRL BSD BTN BWP BYN BZD
CAD CDF CHE CHF CHW CLF CLP CNY COP COU CRC CUC CUP CVE CZK DJF DKK DOP DZD EGP ERN ETB EUR FJD FKP GBP
GEL GHS GIP GMD GNF GTQ GYD HKD HNL HTG HUF IDR ILS INR IQD IRR ISK JMD JOD JPY KES KGS KHR KMF KPW KRW
KWD KYD KZT LAK LBP LKR LRD LSL LYD MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MXV MYR MZN NAD NGN
NIO NOK NPR NZD OMR PAB PEN PGK PHP PKR PLN PYG QAR RON RSD RUB RWF SAR SBD SCR SDG SEK SGD SHP SLE
SOS SRD SSP STN SVC SYP SZL THB TJS TMT TND TOP TRY TTD TWD TZS UAH UGX USD USN UYI UYU UYW UZS VED VES
VND VUV WST XAF XCD XCG XDR XOF XPF XSU XUA YER ZAR ZMW ZWG ZWL
""".split())

NOT_MONEY = frozenset("XAU XAG XPD XPT XBA XBB XBC XBD XTS XXX".split())

# Retired codes someone may still write, with what replaced them.
RETIRED = {"BYR": "BYN", "MRO": "MRU", "STD": "STN", "VEF": "VES", "LTL": "EUR", "LVL": "EUR", "EEK": "EUR",
           "SKK": "EUR", "HRK": "EUR", "CYP": "EUR", "MTL": "EUR", "SIT": "EUR", "DEM": "EUR", "FRF": "EUR",
           "ITL": "EUR", "ESP": "EUR", "NLG": "EUR", "TRL": "TRY", "ZMK": "ZMW", "GHC": "GHS", "SDD": "SDG",
           "MZM": "MZN", "ROL": "RON", "AZM": "AZN", "TMM": "TMT", "CSD": "RSD", "ZWD": "ZWG", "SLL": "SLE"}


def currency_problem(code: str) -> tuple[str, str] | None:
    """(what is wrong, a hint) for a budget or shared-cost currency, None when it is an ISO 4217 code."""
    if code in ISO_4217 and code not in RETIRED:
        return None
    if code in RETIRED:
        return f"`{code}` is a retired currency code", f"write `{RETIRED[code]}`"
    if code in NOT_MONEY:
        return f"`{code}` is not a currency for money (ISO 4217 reserves it)", "use a currency such as USD or EUR"
    if code.upper() != code and (code.upper() in ISO_4217):
        return f"`{code}` is not a currency code", f"write `{code.upper()}`"
    if len(code) == 3 and code.isalpha() and code.isupper():
        return f"`{code}` is not an ISO 4217 currency", "use an ISO 4217 code such as USD, EUR or GBP"
    return f"`{code}` is not a currency code", "use a three-letter ISO 4217 code such as USD or EUR"


__all__ = ["ISO_4217", "NOT_MONEY", "RETIRED", "currency_problem"]
