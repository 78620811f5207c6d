//! SigV4 browser POST policies for the inbox forms.
