"""Admin pages for the outside interfaces (HL7, LINE): the web adapter\x27s views of the adapters\x27 tables."""
