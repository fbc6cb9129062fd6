#!/usr/bin/env bash
# The whole upload flow with curl: ask for a signed URL, send the bytes, complete, look.
# Needs BASE (the server), TOKEN (an access token) and FILE (a PNG); `make run` prints all three.
set -euo pipefail
: "${BASE:?set BASE, e.g. http://127.0.0.1:8000}" "${TOKEN:?set TOKEN (make run prints one)}"
FILE=${FILE:-var/demo.png}
SIZE=$(wc -c < "$FILE" | tr -d ' ')
field() { python3 -c "import json, sys; print(json.load(sys.stdin)['data']['$1'])"; }
# PUT the file to a presign answer's uploadUrl with exactly the headers it lists
# (curl sets Content-Length itself from the body).
put_file() {
  local args=()
  while IFS= read -r header; do args+=(-H "$header"); done < <(echo "$1" | python3 -c \
    "import json, sys; [print(f'{k}: {v}') for k, v in json.load(sys.stdin)['data']['headers'].items() if k != 'Content-Length']")
  curl -sS -X PUT "$(echo "$1" | field uploadUrl)" "${args[@]}" --data-binary @"$FILE"
}

echo "1. Ask the API for a signed upload URL"
PRESIGN=$(curl -sS -X POST "$BASE/api/v1/uploads/presign" \
  -H "Authorization: Bearer $TOKEN" -H "Content-Type: application/json" \
  -d "{\"type\": \"avatar\", \"contentType\": \"image/png\", \"size\": $SIZE, \"fileName\": \"demo.png\"}")
echo "$PRESIGN"
ID=$(echo "$PRESIGN" | field id)

echo "2. Send the bytes straight to storage, with exactly the headers the answer lists"
put_file "$PRESIGN"
echo

echo "3. Tell the API it is done: it checks the stored file itself"
curl -sS -X POST "$BASE/api/v1/uploads/$ID/complete" -H "Authorization: Bearer $TOKEN"
echo

echo "4. Read the upload back, and fetch the file from its publicUrl"
UPLOAD=$(curl -sS "$BASE/api/v1/uploads/$ID" -H "Authorization: Bearer $TOKEN")
echo "$UPLOAD"
curl -sS -o /dev/null -w "GET publicUrl: %{http_code} %{content_type}, %{size_download} bytes\n" \
  "$(echo "$UPLOAD" | field publicUrl)"
