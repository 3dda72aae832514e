"""What the records area announces; later areas (payments) listen, so records imports none of them."""
from blinker import Namespace

_signals = Namespace()

# Sent inside the signing transaction, so a listener's writes commit or roll back with the note:
# send(None, session=, appointment_id=, consultation_id=, services=[(service_id, quantity)], actor=)
consultation_signed = _signals.signal("consultation-signed")
