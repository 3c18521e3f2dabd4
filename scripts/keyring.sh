# Sourced inside a private D-Bus session (dbus-run-session): starts gnome-keyring's Secret
# Service unlocked with the password in $1, in the foreground of this shell, and waits until it
# owns the org.freedesktop.secrets name. A daemon left to daemonise itself (`--unlock` alone)
# does not own the name at first; the first client then has D-Bus start a second daemon, which
# has been seen to come up without the unlocked keyring and to ask for a password no one can
# type (tests then fail at random). Here one daemon serves the whole session and ends with it.
start_keyring() {
  local env_file
  env_file="$(mktemp)"
  printf '%s' "$1" | gnome-keyring-daemon --foreground --unlock --components=secrets >"$env_file" &
  SOTIEM_KEYRING_PID=$!
  trap 'kill "$SOTIEM_KEYRING_PID" 2>/dev/null || true' EXIT
  local owned=""
  for _ in $(seq 1 100); do
    if dbus-send --session --print-reply --dest=org.freedesktop.DBus /org/freedesktop/DBus \
      org.freedesktop.DBus.NameHasOwner string:org.freedesktop.secrets 2>/dev/null |
      grep -q "boolean true" && [ -s "$env_file" ]; then
      owned=yes
      break
    fi
    sleep 0.1
  done
  if [ -z "$owned" ]; then
    echo "keyring: gnome-keyring-daemon did not start the Secret Service" >&2
    return 1
  fi
  # shellcheck disable=SC1090
  eval "$(cat "$env_file")"
  export GNOME_KEYRING_CONTROL
  rm -f "$env_file"
}
