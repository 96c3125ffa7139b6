#!/usr/bin/env bash
# The calls a hospital system (say, the patient administration system) makes
# to bedside's JSON API: register a patient and get the family's invite link,
# book a visit on the family's behalf, and read a ward's day.
#
#   bedside apikey create "patient administration system"   # prints the key once
#   API_URL=https://visits.hospital.example.org API_KEY=bsk_… bash examples/api-calls.sh
#
# (Not BEDSIDE_* names: bedside refuses to start beside a BEDSIDE_* variable
# it does not know, and these would linger in an admin's shell.)
#
# It really creates a patient and a booking (and the booking mails the
# family): try it on a test instance. Optional settings: UNIT_ID (the
# ward; default the first one listed), PATIENT_LABEL, FAMILY_NAME,
# FAMILY_EMAIL, FAMILY_LANGUAGE. Needs curl, jq and GNU date. Every route and
# field is in the OpenAPI document at $API_URL/api/v1/openapi.json.
# Errors come back as {"error": "...", "field": "..."} with a 4xx status.
set -euo pipefail

: "${API_URL:?set API_URL to the address of bedside, e.g. https://visits.hospital.example.org}"
: "${API_KEY:?set API_KEY to a key from: bedside apikey create <name>}"
PATIENT_LABEL=${PATIENT_LABEL:-Bed 12}
FAMILY_NAME=${FAMILY_NAME:-Anna Example}
FAMILY_EMAIL=${FAMILY_EMAIL:-anna@example.org}
FAMILY_LANGUAGE=${FAMILY_LANGUAGE:-en}

# One API call: method, path, and for POST a JSON body. Prints the response
# body; on a 4xx/5xx prints bedside's error message and stops the script.
api() {
  local method=$1 path=$2 body=${3:-}
  local args=(--silent --show-error --fail-with-body
              --header "Authorization: Bearer ${API_KEY}"
              --request "$method")
  if [[ -n "$body" ]]; then
    args+=(--header "Content-Type: application/json" --data "$body")
  fi
  curl "${args[@]}" "${API_URL%/}${path}"
}

# 1. The wards: GET /api/v1/units
units=$(api GET /api/v1/units)
unit_id=${UNIT_ID:-$(jq -er '.units[0].id' <<<"$units")}
time_zone=$(jq -er --argjson id "$unit_id" '.units[] | select(.id == $id) | .time_zone' <<<"$units")
echo "ward $unit_id ($time_zone)" >&2

# 2. Register a patient; the answer holds the family's invite link, shown
#    this once (bedside keeps only its hash). Use a pseudonymous label, never
#    the patient's name. POST /api/v1/patients
patient=$(api POST /api/v1/patients \
  "$(jq -n --argjson unit_id "$unit_id" --arg patient_label "$PATIENT_LABEL" \
        '{unit_id: $unit_id, label: $patient_label}')")
patient_id=$(jq -er '.id' <<<"$patient")
echo "patient $patient_id registered; the family's invite link:" >&2
jq -er '.invite_url' <<<"$patient"

# 3. The ward's free slots, from now to its booking horizon (UTC times).
#    GET /api/v1/units/{id}/slots
slots=$(api GET "/api/v1/units/${unit_id}/slots")
start=$(jq -er '.slots[0].start' <<<"$slots")

# 4. Book the first free slot for the family (they must have agreed to the
#    privacy statement). The answer holds the visit link that is mailed to
#    them. POST /api/v1/bookings
booking=$(api POST /api/v1/bookings \
  "$(jq -n --argjson patient_id "$patient_id" --arg start "$start" \
        --arg name "$FAMILY_NAME" --arg email "$FAMILY_EMAIL" --arg language "$FAMILY_LANGUAGE" \
        '{patient_id: $patient_id, start: $start, name: $name, email: $email,
          language: $language, consent: true}')")
booking_id=$(jq -er '.id' <<<"$booking")
echo "booking $booking_id at $start on $(jq -er '.tablet' <<<"$booking"); the visit link:" >&2
jq -er '.visit_url' <<<"$booking"

# 5. The ward's day of that visit, in the ward's own time zone: labels,
#    times, tablets and status; never a family member's name or address.
#    GET /api/v1/units/{id}/bookings?date=YYYY-MM-DD (without date: today)
day=$(TZ="$time_zone" date --date "$start" +%F)
echo "the ward's day $day:" >&2
api GET "/api/v1/units/${unit_id}/bookings?date=${day}" | jq .

# (Also: POST /api/v1/bookings/{id}/cancel, POST /api/v1/patients/{id}/discharge.)
