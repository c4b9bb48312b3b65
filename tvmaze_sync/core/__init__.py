"""The foundation every layer uses: errors and exit codes, the data model, the one
configuration schema, time, logging, bounded HTTP.
"""
