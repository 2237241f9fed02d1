"""Knowledge in: documents (Markdown, text, HTML, PDF) cut into embedder-sized chunks, and chat
messages turned into conversation memories.

Everything here turns files into MIP v1 plaintext records (MIP-1 §7.1.1 and §7.1.2); nothing
writes to a store. ``memos pack`` (cube sources), ``memos add --file/--dir/--messages`` and
``MemOS.add_messages`` call it.
"""
