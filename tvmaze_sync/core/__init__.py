"""The foundation every layer uses: errors and exit codes, the data model, the one
configuration schema, the cycle's context, time, logging, bounded HTTP.
"""
