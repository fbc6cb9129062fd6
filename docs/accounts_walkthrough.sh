#!/usr/bin/env bash
# Put uploads to use with curl: set an avatar, then add a media item and list the media.
# Needs BASE (the server), TOKEN (an access token) and FILE (a PNG); `make run` prints all three.
# With KEY set to an API key (upk_..., made in the admin with the media:read scope), the
# last step lists the media with that key instead of the token.
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

echo "1. Ask for a signed URL for an avatar, and send the bytes to it"
PRESIGN=$(curl -sS -X POST "$BASE/api/v1/uploads/presign" \
  -H "Authorization: Bearer $TOKEN" -H "Content-Type: application/json" \
  -d "{\"type\": \"avatar\", \"contentType\": \"image/png\", \"size\": $SIZE, \"fileName\": \"me.png\"}")
echo "$PRESIGN"
AVATAR_ID=$(echo "$PRESIGN" | field id)
put_file "$PRESIGN"
echo

echo "2. Make it your avatar: no complete call needed, the server verifies the file first"
curl -sS -X PATCH "$BASE/api/v1/users/me/avatar" \
  -H "Authorization: Bearer $TOKEN" -H "Content-Type: application/json" \
  -d "{\"upload\": \"$AVATAR_ID\"}"
echo

echo "3. Your profile shows the avatar's URL; fetch it"
ME=$(curl -sS "$BASE/api/v1/users/me" -H "Authorization: Bearer $TOKEN")
echo "$ME"
curl -sS -o /dev/null -w "GET avatarUrl: %{http_code} %{content_type}, %{size_download} bytes\n" \
  "$(echo "$ME" | field avatarUrl)"

echo "4. Upload a media file: presign, send, complete"
PRESIGN=$(curl -sS -X POST "$BASE/api/v1/uploads/presign" \
  -H "Authorization: Bearer $TOKEN" -H "Content-Type: application/json" \
  -d "{\"type\": \"media\", \"contentType\": \"image/png\", \"size\": $SIZE, \"fileName\": \"photo.png\"}")
MEDIA_ID=$(echo "$PRESIGN" | field id)
put_file "$PRESIGN"
echo
curl -sS -X POST "$BASE/api/v1/uploads/$MEDIA_ID/complete" -H "Authorization: Bearer $TOKEN"
echo

echo "5. Add it to your media, with a title"
curl -sS -X POST "$BASE/api/v1/media" \
  -H "Authorization: Bearer $TOKEN" -H "Content-Type: application/json" \
  -d "{\"upload\": \"$MEDIA_ID\", \"title\": \"My first photo\"}"
echo

echo "6. List your media"
curl -sS "$BASE/api/v1/media" -H "Authorization: Bearer ${KEY:-$TOKEN}"
echo
