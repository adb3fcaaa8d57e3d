"""Admin pages for the outside interfaces (HL7, LINE).

The web adapter's views of tables the adapters own.
"""
