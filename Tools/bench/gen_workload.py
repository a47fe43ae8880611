#!/usr/bin/env python3
"""Deterministic messaging-workload generator (stdlib only).

Writes load.bin, groups.bin, blocks.bin, reads.bin, checks.bin and
workload.json into --out.  The byte format is specified in
docs/workload.md; keep the two in sync.

Same --seed and parameters => byte-identical files (CPython 3.11 `random`).
"""
import argparse
import bisect
import datetime as _dt
import hashlib
import json
import math
import os
import random
import struct
import sys
import time
from collections import deque

FORMAT_VERSION = 1
START_US = int(_dt.datetime(2024, 6, 1, tzinfo=_dt.timezone.utc).timestamp()) * 1_000_000
DAY_US = 86_400 * 1_000_000

OP_DIRECT = 1
OP_GROUP = 2
FLAG_BLOCKED = 1  # direct message whose recipient blocked the sender: must be rejected

READ_RECENT, READ_START, READ_EMPTY = 0, 1, 2

LOAD_HDR = struct.Struct("<BBHI16s16s16sq")   # 64 bytes, then content
READ_REC = struct.Struct("<16sqHBBI")          # 32 bytes
CHECK_REC = struct.Struct("<16s16sB")          # 33 bytes
FILE_HDR = struct.Struct("<8sQ")               # 16 bytes: magic, record count
assert LOAD_HDR.size == 64 and READ_REC.size == 32 and CHECK_REC.size == 33

# --------------------------------------------------------------------------
# Text model
# --------------------------------------------------------------------------
# Frequent chat words, roughly in frequency order (rank 1 first).  The rest of
# the vocabulary is made of pronounceable pseudo-words (names, places, jargon).
BASE_WORDS = """
i you the to a and it is that my me in of for so what do not just be have no
are on but this lol was like with ok can we at your yeah know get it's i'm all
up if oh good yes will go how about when there out don't one now too they he
she got time think want see love really can't u im going well here from come
then back some more day why them an did would or need night tomorrow today
haha thanks sure ya lmao omg work home right sorry okay who her his our us new
make had let been say wait call later tonight still much gonna wanna thing
people something maybe tell man way feel nice sounds great guys yet again last
week happy because cause though bro dude cool fun bad better best off take
after before talk text miss hey hi hello morning lunch dinner food eat went
coming leaving school class game play watch movie show phone send pic told
said stop hahaha true idk tbh btw also even any only never always ever very
thank please where which their many first long little other could should
these those than into over down been has were being doing getting made went
gone year years month friday saturday sunday monday weekend party drive car
bus train late early soon minutes hour hours yesterday ready done finished
start started meeting office boss job money pay paid cheap buy bought store
shop order delivery coffee beer drinks pizza sushi burger place house room
bed sleep tired sick hungry busy free around outside inside weather rain
cold hot sunny beach trip flight hotel ticket tickets concert music song
album video link check look looks looking funny crazy awesome amazing cute
pretty beautiful ugly weird sad mad angry worried excited glad proud lucky
sweet honestly literally basically actually probably definitely exactly
totally seriously anyway whatever nothing everything someone anyone everyone
mom dad sister brother family kids baby dog cat friend friends girl boy guy
group chat message messages reply answer question problem idea plan plans
update news story picture photo photos birthday gift christmas holiday
vacation summer winter spring fall city town street park gym run walk ride
pick drop bring leave stay move open close turn help try tried find found
lost win won lose playing watching reading working talking thinking sorry
welcome congrats cheers bye night lets let's we're you're they're that's
there's what's isn't wasn't didn't doesn't won't wouldn't couldn't shouldn't
i'll you'll we'll i've you've i'd hmm umm yep nope yup nah omw brb ttyl np
ty thx pls plz rn asap fyi imo irl dm lmk wtf smh ikr fr ngl gg ok! ok.
""".split()

# Common multi-word chat phrases; each is one vocabulary item, interleaved
# with the frequent words so that word order is not purely unigram.
PHRASES = """
see you|on my way|what time|i don't know|sounds good|let me know|talk later|
good morning|how are you|i love you|thank you so much|are you there|call me|
what are you doing|i miss you|be there soon|running late|no worries|of course|
can't wait|for sure|me too|love you too|good night|see you tomorrow|at the office|
just got home|on the way|what do you think|i think so|not sure|did you see|
are you coming|i'll be there|happy birthday|are you ok|what happened|oh my god|
that's so funny|too bad|not yet|i know right|sounds like a plan|see you soon|
in a bit|right now|last night|this weekend|next week|let's go|i'm so tired|
have fun|take care|miss you|so much|a lot|kind of|at home|in the morning
""".replace("\n", "").split("|")

EMOJI = ["😂", "❤️", "😍", "👍", "🙏", "😭", "😊", "🔥", "😅", "🤣", "👀", "💯",
         "🎉", "😘", "🥺", "😎", "🙄", "😁", "😉", "🤔", "😢", "👌", "✨", "💀",
         "🤷‍♂️", "🙌", "😬", "😴", "🥰", "😡", "🍕", "☕", "🎂", "🚗", "✅", "👋"]

URL_TEMPLATES = [
    ("https://www.youtube.com/watch?v=", "b64", 11),
    ("https://youtu.be/", "b64", 11),
    ("https://open.spotify.com/track/", "b62", 22),
    ("https://maps.app.goo.gl/", "b62", 17),
    ("https://www.instagram.com/p/", "b64", 11),
    ("https://x.com/{w}/status/", "dig", 19),
    ("https://github.com/{w}/{w}", "", 0),
    ("https://docs.google.com/document/d/", "b64", 44),
    ("https://www.amazon.com/dp/B0", "B36", 8),
    ("https://en.wikipedia.org/wiki/{W}", "", 0),
    ("https://www.reddit.com/r/{w}/comments/", "b36", 6),
    ("https://www.nytimes.com/2024/06/{d2}/{w}/{w}-{w}-{w}.html", "", 0),
]
ALPH = {
    "b64": "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_",
    "b62": "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789",
    "b36": "abcdefghijklmnopqrstuvwxyz0123456789",
    "B36": "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789",
    "dig": "0123456789",
}
ONSETS = ["b", "c", "d", "f", "g", "h", "j", "k", "l", "m", "n", "p", "r", "s",
          "t", "v", "w", "z", "br", "ch", "cl", "cr", "dr", "fl", "gr", "kr",
          "pl", "pr", "sh", "sk", "sl", "sp", "st", "str", "th", "tr", ""]
VOWELS = ["a", "e", "i", "o", "u", "ai", "ea", "ee", "oo", "ou", "y", "ie"]
CODAS = ["", "", "", "n", "r", "s", "t", "l", "m", "nd", "ng", "ck", "st", "rt", "x"]
ENDINGS = ["", "", "", "", "s", "ed", "ing", "er", "ly", "y"]


def build_vocab(rng, size):
    words = []
    seen = set()
    for w in BASE_WORDS:
        if w not in seen:
            seen.add(w)
            words.append(w)
    for i, ph in enumerate(PHRASES):                   # phrases at ranks ~25, 31, 37, ...
        ph = ph.strip()
        if ph and ph not in seen:
            seen.add(ph)
            words.insert(min(len(words), 25 + 6 * i), ph)
    while len(words) < size:
        nsyl = rng.choice((1, 1, 2, 2, 2, 3))
        w = "".join(rng.choice(ONSETS) + rng.choice(VOWELS) + rng.choice(CODAS)
                    for _ in range(nsyl)) + rng.choice(ENDINGS)
        if 2 <= len(w) <= 11 and w not in seen:
            seen.add(w)
            words.append(w)
    return words[:size]


def zipf_cum(n, s):
    cum, acc = [], 0.0
    for r in range(1, n + 1):
        acc += 1.0 / (r ** s)
        cum.append(acc)
    return cum


class Zipf:
    """Zipf(s) over n items; rank r maps to item perm[r] (perm=None: identity)."""

    def __init__(self, rng, n, s, perm=None):
        self.rng = rng
        self.cum = zipf_cum(n, s)
        self.total = self.cum[-1]
        self.perm = perm
        self.hi = n - 1

    def pmf_rank(self, r):
        prev = self.cum[r - 1] if r > 0 else 0.0
        return (self.cum[r] - prev) / self.total

    def __call__(self):
        r = bisect.bisect(self.cum, self.rng.random() * self.total, 0, self.hi)
        return self.perm[r] if self.perm is not None else r


class TextGen:
    def __init__(self, rng, vocab_size, word_s, len_median, len_sigma, max_len):
        self.rng = rng
        self.words = build_vocab(rng, vocab_size)
        self.cum = zipf_cum(len(self.words), word_s)
        self.mu = math.log(len_median)
        self.sigma = len_sigma
        self.max_len = max_len
        caps = []
        for w in self.words[:60]:
            caps.append(w.capitalize())
        self.cap_words = caps

    def _token(self, alph, n):
        rng = self.rng
        a = ALPH[alph]
        return "".join(rng.choice(a) for _ in range(n))

    def url(self):
        rng = self.rng
        tmpl, alph, n = rng.choice(URL_TEMPLATES)
        out = tmpl
        while "{w}" in out:
            out = out.replace("{w}", self.words[rng.randrange(40, 1500)], 1)
        if "{W}" in out:
            out = out.replace("{W}", self.words[rng.randrange(100, 3000)].capitalize())
        if "{d2}" in out:
            out = out.replace("{d2}", "%02d" % rng.randint(1, 30))
        if n:
            out += self._token(alph, n)
        return out

    def number(self):
        rng = self.rng
        k = rng.random()
        if k < 0.25:
            return str(rng.randint(1, 12)) + rng.choice(("pm", "am", "", ":30", ":15", ":45"))
        if k < 0.45:
            return str(rng.randint(1, 20))
        if k < 0.60:
            return "$" + str(rng.choice((5, 10, 12, 15, 20, 25, 30, 40, 50, 80, 100, 150, 200, 1200)))
        if k < 0.70:
            return str(rng.randint(2019, 2026))
        if k < 0.80:
            return "%d%%" % rng.choice((10, 20, 25, 50, 75, 90, 99, 100))
        if k < 0.90:
            return str(rng.randint(100, 9999))
        return "%d%s" % (rng.randint(1, 31), rng.choice(("st", "nd", "rd", "th")))

    def message(self):
        rng = self.rng
        target = rng.lognormvariate(self.mu, self.sigma)
        r = rng.random()
        if r < 0.015:                                  # just a link
            text = self.url()
        else:
            n = max(1, int(target / 5.4 + 0.5))
            words = rng.choices(self.words, cum_weights=self.cum, k=n)
            if n > 10:                                 # sentence breaks in long messages
                k = rng.randint(5, 12)
                while k < n - 1:
                    words[k] += rng.choice((".", ".", ",", ",", "?", "!", "..."))
                    if rng.random() < 0.5:
                        words[k + 1] = words[k + 1].capitalize()
                    k += rng.randint(5, 14)
            if rng.random() < 0.06:
                words.insert(rng.randrange(len(words) + 1), self.number())
            if r > 0.975:
                words.append(self.url())
            text = " ".join(words)
            if rng.random() < 0.4:
                text = text[0].upper() + text[1:]
            e = rng.random()
            if e < 0.50:
                pass
            elif e < 0.62:
                text += "?"
            elif e < 0.72:
                text += "."
            elif e < 0.80:
                text += "!"
            elif e < 0.84:
                text += "..."
            elif e < 0.87:
                text += "!!"
            elif e < 0.89:
                text += " :)"
            elif e < 0.90:
                text += " haha"
            else:                                      # ~10% carry emoji
                text += " " + "".join(rng.choice(EMOJI) for _ in range(rng.choice((1, 1, 1, 2, 3))))
        b = text.encode("utf-8")
        if len(b) > self.max_len:
            b = b[: self.max_len].decode("utf-8", "ignore").encode("utf-8")
        return b


# --------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------
def uuid4(rng):
    b = bytearray(rng.getrandbits(128).to_bytes(16, "big"))
    b[6] = (b[6] & 0x0F) | 0x40
    b[8] = (b[8] & 0x3F) | 0x80
    return bytes(b)


def percentile(sorted_vals, p):
    if not sorted_vals:
        return 0
    i = min(len(sorted_vals) - 1, int(p / 100.0 * len(sorted_vals)))
    return sorted_vals[i]


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


# 24 relative hourly send rates (UTC), mean 1.0: quiet night, evening peak.
DIURNAL = [0.45, 0.30, 0.20, 0.15, 0.12, 0.15, 0.30, 0.60, 0.90, 1.05, 1.10, 1.15,
           1.25, 1.20, 1.15, 1.15, 1.20, 1.35, 1.55, 1.75, 1.85, 1.70, 1.30, 0.83]
_m = sum(DIURNAL) / 24.0
DIURNAL = [d / _m for d in DIURNAL]


def make_group_sizes(rng, n_groups, mean, n_users):
    n_large = max(1, round(n_groups * 0.02)) if n_groups >= 10 else 0
    large = [min(n_users, rng.randint(150, 250)) for _ in range(n_large)]
    rest = n_groups - n_large
    small_mean = (mean * n_groups - sum(large)) / rest if rest else 0
    while rest and small_mean < 3.5 and large:     # mean too small for large groups
        large.pop()
        rest += 1
        small_mean = (mean * n_groups - sum(large)) / rest
    small = [min(n_users, 3 + int(rng.expovariate(1.0 / max(0.5, small_mean - 3.0))))
             for _ in range(rest)]
    sizes = small + large
    rng.shuffle(sizes)
    return sizes


# --------------------------------------------------------------------------
def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--messages", type=int, default=1_000_000, help="number of sends (load.bin records)")
    ap.add_argument("--users", type=int, default=10_000)
    ap.add_argument("--groups", type=int, default=500)
    ap.add_argument("--group-size-mean", type=float, default=10.0)
    ap.add_argument("--reads", type=int, default=100_000)
    ap.add_argument("--checks", type=int, default=100_000)
    ap.add_argument("--blocks", type=int, default=None, help="block pairs (default 2*users)")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--out", required=True, help="output folder (keep it outside the repo, e.g. /tmp/wl)")
    ap.add_argument("--group-fraction", type=float, default=0.20)
    ap.add_argument("--zipf-s", type=float, default=1.1, help="skew of senders/recipients/groups")
    ap.add_argument("--reply-prob", type=float, default=0.30,
                    help="probability a direct message continues a recently active conversation")
    ap.add_argument("--days", type=float, default=30.0)
    ap.add_argument("--vocab", type=int, default=4000)
    ap.add_argument("--read-limit", type=int, default=50)
    ap.add_argument("--check-hit", type=float, default=0.10)
    args = ap.parse_args()

    t_start = time.time()
    rng = random.Random(args.seed)
    U, G, N = args.users, args.groups, args.messages
    n_blocks = args.blocks if args.blocks is not None else 2 * U
    os.makedirs(args.out, exist_ok=True)

    # ---- identities ------------------------------------------------------
    user_ids = [uuid4(rng) for _ in range(U)]
    group_ids = [uuid4(rng) for _ in range(G)]
    perm_recv = list(range(U)); rng.shuffle(perm_recv)
    perm_send = list(range(U)); rng.shuffle(perm_send)
    z_recv = Zipf(rng, U, args.zipf_s, perm_recv)
    z_send = Zipf(rng, U, args.zipf_s, perm_send)
    text = TextGen(rng, args.vocab, word_s=1.05, len_median=39.0, len_sigma=1.05, max_len=2048)

    # ---- groups ----------------------------------------------------------
    sizes = make_group_sizes(rng, G, args.group_size_mean, U) if G else []
    members = []
    for sz in sizes:
        chosen, order = set(), []
        while len(order) < sz:
            u = z_send() if rng.random() < 0.3 else rng.randrange(U)
            if u not in chosen:
                chosen.add(u)
                order.append(u)
        members.append(order)
    # member -> sender weights inside a group (activity follows global send popularity)
    rank_of_sender = [0] * U
    for r, u in enumerate(perm_send):
        rank_of_sender[u] = r
    member_cum = []
    for mem in members:
        acc, cum = 0.0, []
        for u in mem:
            acc += 1.0 / ((rank_of_sender[u] + 1) ** 0.6)
            cum.append(acc)
        member_cum.append(cum)
    # group activity: Zipf over a random group order, re-drawn until the expected
    # fan-out per group message is within +-25% of (mean size - 1).
    z_group = None
    if G:
        target = sum(sizes) / G - 1.0
        for _attempt in range(1000):
            perm_g = list(range(G)); rng.shuffle(perm_g)
            zg = Zipf(rng, G, args.zipf_s, perm_g)
            exp_fan = sum(zg.pmf_rank(r) * (sizes[perm_g[r]] - 1) for r in range(G))
            if 0.75 * target <= exp_fan <= 1.25 * target:
                break
        z_group = zg

    # ---- block list ------------------------------------------------------
    block_set = set()
    block_list = []
    while len(block_list) < n_blocks:
        blocker = z_recv() if rng.random() < 0.10 else rng.randrange(U)
        blocked = rng.randrange(U)
        if blocker == blocked:
            continue
        k = blocker * U + blocked
        if k in block_set:
            continue
        block_set.add(k)
        block_list.append((blocker, blocked))

    # ---- load.bin --------------------------------------------------------
    inbox_n = [0] * U
    tail_len = args.read_limit + 2
    inbox_tail = [deque(maxlen=tail_len) for _ in range(U)]
    recent_pairs = deque(maxlen=32)
    span_us = args.days * DAY_US
    nominal_gap = span_us / max(1, N)
    # pass 1: raw (unscaled) inter-arrival gaps, Markov-modulated bursts x diurnal
    gaps = []
    t = 0.0
    burst = False
    for _ in range(N):
        if burst:
            if rng.random() < 1.0 / 150:
                burst = False
        elif rng.random() < 1.0 / 3000:
            burst = True
        rate = DIURNAL[int(t / 3.6e9) % 24] * (8.0 if burst else 1.0)
        g = rng.expovariate(1.0) * nominal_gap / rate
        gaps.append(g)
        t += g
    scale = span_us / t if t > 0 else 1.0

    n_direct = n_group = n_blocked = 0
    n_entries = 0
    entry_content_bytes = 0
    content_bytes = 0
    content_lens = []
    fanouts = []
    date = START_US
    first_date = None
    pack = LOAD_HDR.pack
    out_path = os.path.join(args.out, "load.bin")
    with open(out_path, "wb", buffering=1 << 22) as f:
        f.write(FILE_HDR.pack(b"MSGLOAD1", N))
        chunk = []
        for i in range(N):
            date += max(1, int(gaps[i] * scale))
            if first_date is None:
                first_date = date
            content = text.message()
            clen = len(content)
            content_bytes += clen
            content_lens.append(clen)
            mid = uuid4(rng)
            if G and rng.random() < args.group_fraction:
                g = z_group()
                mem = members[g]
                sender = mem[bisect.bisect(member_cum[g], rng.random() * member_cum[g][-1], 0, len(mem) - 1)]
                chunk.append(pack(OP_GROUP, 0, 0, clen, user_ids[sender], group_ids[g], mid, date))
                fo = 0
                for u in mem:
                    if u != sender:
                        inbox_n[u] += 1
                        inbox_tail[u].append(date)
                        fo += 1
                n_entries += fo
                entry_content_bytes += fo * clen
                fanouts.append(fo)
                n_group += 1
            else:
                if recent_pairs and rng.random() < args.reply_prob:
                    a, b = recent_pairs[rng.randrange(len(recent_pairs))]
                    sender, recv = (b, a) if rng.random() < 0.5 else (a, b)
                else:
                    recv = z_recv()
                    sender = z_send()
                    while sender == recv:
                        sender = z_send()
                recent_pairs.append((sender, recv))
                blocked = (recv * U + sender) in block_set
                flags = FLAG_BLOCKED if blocked else 0
                chunk.append(pack(OP_DIRECT, flags, 0, clen, user_ids[sender], user_ids[recv], mid, date))
                if blocked:
                    n_blocked += 1
                else:
                    inbox_n[recv] += 1
                    inbox_tail[recv].append(date)
                    n_entries += 1
                    entry_content_bytes += clen
                n_direct += 1
            chunk.append(content)
            if len(chunk) >= 8192:
                f.write(b"".join(chunk))
                chunk.clear()
        f.write(b"".join(chunk))
    last_date = date
    del gaps

    # ---- groups.bin / blocks.bin ----------------------------------------
    with open(os.path.join(args.out, "groups.bin"), "wb") as f:
        f.write(FILE_HDR.pack(b"MSGGRPS1", G))
        for g in range(G):
            f.write(group_ids[g] + struct.pack("<I", len(members[g])))
            f.write(b"".join(user_ids[u] for u in members[g]))
    with open(os.path.join(args.out, "blocks.bin"), "wb") as f:
        f.write(FILE_HDR.pack(b"MSGBLCK1", len(block_list)))
        f.write(b"".join(user_ids[a] + user_ids[b] for a, b in block_list))

    # ---- reads.bin -------------------------------------------------------
    limit = args.read_limit
    kind_counts = [0, 0, 0]
    rows_by_kind = [0, 0, 0]
    with open(os.path.join(args.out, "reads.bin"), "wb", buffering=1 << 20) as f:
        f.write(FILE_HDR.pack(b"MSGREAD1", args.reads))
        recs = []
        for _ in range(args.reads):
            u = z_recv()
            n = inbox_n[u]
            tail = inbox_tail[u]
            x = rng.random()
            if x < 0.60:
                kind = READ_RECENT
                k = min(limit - 1, 1 + int(rng.expovariate(1.0 / 4.0)))   # "a few" newer entries
                if n > k:
                    lo = tail[-k - 1]
                    hi = tail[-k]
                    after = lo + (rng.randrange(hi - lo) if hi - lo > 1 else 0)
                    expected = k
                else:
                    after = START_US - 1 - rng.randrange(DAY_US)   # before anything: returns all n
                    expected = n
            elif x < 0.85:
                kind = READ_START
                after = 0
                expected = min(n, limit)
            else:
                kind = READ_EMPTY
                after = tail[-1] if n else last_date
                if n and rng.random() < 0.5:
                    after += rng.randrange(1, DAY_US)
                expected = 0
            kind_counts[kind] += 1
            rows_by_kind[kind] += expected
            recs.append(READ_REC.pack(user_ids[u], after, limit, kind, 0, expected))
        f.write(b"".join(recs))

    # ---- checks.bin ------------------------------------------------------
    n_hits = 0
    with open(os.path.join(args.out, "checks.bin"), "wb", buffering=1 << 20) as f:
        f.write(FILE_HDR.pack(b"MSGCHCK1", args.checks))
        recs = []
        for _ in range(args.checks):
            if block_list and rng.random() < args.check_hit:
                a, b = block_list[rng.randrange(len(block_list))]
                hit = 1
            else:
                while True:
                    a = z_recv()
                    b = z_send()
                    if a != b and (a * U + b) not in block_set:
                        break
                hit = 0
            n_hits += hit
            recs.append(CHECK_REC.pack(user_ids[a], user_ids[b], hit))
        f.write(b"".join(recs))

    # ---- workload.json ---------------------------------------------------
    content_lens.sort()
    inbox_sorted = sorted(inbox_n)
    fanouts.sort()
    sizes_sorted = sorted(sizes)
    files = {}
    for name in ("load.bin", "groups.bin", "blocks.bin", "reads.bin", "checks.bin"):
        p = os.path.join(args.out, name)
        files[name] = {"bytes": os.path.getsize(p), "sha256": sha256_file(p)}
    meta = {
        "format_version": FORMAT_VERSION,
        "generator": "Tools/bench/gen_workload.py",
        "params": {
            "messages": N, "users": U, "groups": G, "group_size_mean": args.group_size_mean,
            "reads": args.reads, "checks": args.checks, "blocks": n_blocks, "seed": args.seed,
            "group_fraction": args.group_fraction, "zipf_s": args.zipf_s, "reply_prob": args.reply_prob,
            "days": args.days, "vocab": args.vocab, "read_limit": limit, "check_hit": args.check_hit,
        },
        "counts": {
            "sends": N, "direct": n_direct, "group": n_group,
            "direct_blocked": n_blocked,
            "inbox_entries": n_entries,
            "blocks": len(block_list),
            "reads": args.reads,
            "reads_by_kind": {"recent": kind_counts[0], "from_start": kind_counts[1], "empty": kind_counts[2]},
            "read_rows_expected": sum(rows_by_kind),
            "read_rows_by_kind": {"recent": rows_by_kind[0], "from_start": rows_by_kind[1], "empty": rows_by_kind[2]},
            "checks": args.checks, "check_hits": n_hits,
        },
        "stats": {
            "first_date_us": first_date, "last_date_us": last_date,
            "span_days": round((last_date - first_date) / DAY_US, 3) if first_date else 0,
            "content_bytes": content_bytes,
            "content_len_mean": round(content_bytes / max(1, N), 2),
            "content_len_p50": percentile(content_lens, 50),
            "content_len_p90": percentile(content_lens, 90),
            "content_len_p99": percentile(content_lens, 99),
            "content_len_max": content_lens[-1] if content_lens else 0,
            "group_size_mean": round(sum(sizes) / max(1, G), 2),
            "group_size_p50": percentile(sizes_sorted, 50),
            "group_size_max": sizes_sorted[-1] if sizes_sorted else 0,
            "group_fanout_mean": round(sum(fanouts) / max(1, len(fanouts)), 2),
            "group_fanout_p50": percentile(fanouts, 50),
            "group_fanout_p99": percentile(fanouts, 99),
            "inbox_users_nonempty": sum(1 for x in inbox_n if x),
            "inbox_size_p50": percentile(inbox_sorted, 50),
            "inbox_size_p90": percentile(inbox_sorted, 90),
            "inbox_size_p99": percentile(inbox_sorted, 99),
            "inbox_size_max": inbox_sorted[-1] if inbox_sorted else 0,
            "inbox_content_bytes": entry_content_bytes,
            "inbox_logical_bytes_kv": n_entries * (40 + 32) + entry_content_bytes,
        },
        "files": files,
        "generator_seconds": None,
    }
    meta["generator_seconds"] = round(time.time() - t_start, 2)
    with open(os.path.join(args.out, "workload.json"), "w") as f:
        json.dump(meta, f, indent=2)
        f.write("\n")
    print(json.dumps({"out": args.out, **meta["counts"], "seconds": meta["generator_seconds"]}), file=sys.stderr)


if __name__ == "__main__":
    main()
