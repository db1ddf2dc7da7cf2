package dev.ppsd.engine.guided;

import dk.brics.automaton.Automaton;
import dk.brics.automaton.BasicAutomata;
import dk.brics.automaton.RegExp;
import dk.brics.automaton.RunAutomaton;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.TreeSet;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.LongAdder;

/**
 * One guided constraint compiled for one vocabulary: the minimal DFA of its text (a dk.brics automaton over UTF-16
 * units), walked one UTF-8 byte at a time, and the allowed-token mask of every state it reaches, computed on first
 * use and kept for every sequence of the engine with the same constraint.
 *
 * <p><b>States.</b> A state is a {@code long}: the DFA state in the high 32 bits; below it the bytes of a character
 * begun but not finished (a token of a byte-level vocabulary may end inside a multi-byte character: up to three
 * pending bytes and their count), and a flag while the decoder's leading blank is still to be dropped
 * ({@link TokenTable#stripsLeadingSpace()}). {@link #DEAD}: the text can no longer match; {@link #END}: EOS was
 * generated in an accepting state. A state is <i>live</i> when some continuation reaches acceptance: the DFA's dead
 * states are removed (surrogate pairs counted as one character), and a pending character is live when some
 * character that begins with its bytes leads to a live DFA state.
 *
 * <p><b>Masks.</b> A token is allowed when walking its bytes from the state stays live; EOS (every id of the
 * model's {@code eos_token_id}) only in accepting states (no pending bytes); special tokens never. The walk visits
 * the tokens in byte order ({@link TokenTable#sorted()}) and reuses the states of the common prefix, skipping every
 * token below a dead prefix. A live state that no token can extend (a vocabulary without some byte) allows EOS, so
 * the row ends, flagged incomplete.
 */
final class Constraint {
    /** The text can no longer match. */
    static final long DEAD = -1;
    /** EOS was generated in an accepting state: only EOS follows. */
    static final long END = -2;

    private static final long STRIP = 1L << 26;
    /**
     * The one thread that runs dk.brics: it numbers states through an unsynchronised static counter, and its
     * parser and algorithms recurse as deep as a literal is long, hence the large stack.
     */
    private static final java.util.concurrent.ExecutorService DK_BRICS = java.util.concurrent.Executors
            .newSingleThreadExecutor(r -> {
                Thread t = new Thread(null, r, "ppsd-guided-compile", 512L << 20);
                t.setDaemon(true);
                return t;
            });

    private final String name;
    private final RunAutomaton dfa;
    private final boolean[] live;
    /** Starts of the DFA's character intervals, split at the surrogate ranges. */
    private final char[] points;
    private final TokenTable tokens;
    private final int[] eos;
    private final int maxTokenBytes;
    private final ConcurrentHashMap<Long, TokenMask> masks = new ConcurrentHashMap<>();
    private final ConcurrentHashMap<Long, Boolean> pendingLive = new ConcurrentHashMap<>();
    private final LongAdder maskBuilds;
    private final LongAdder maskBuildNanos;

    private Constraint(String name, RunAutomaton dfa, TokenTable tokens, int[] eos, LongAdder maskBuilds,
            LongAdder maskBuildNanos) {
        this.name = name;
        this.dfa = dfa;
        this.tokens = tokens;
        this.eos = eos.clone();
        this.maskBuilds = maskBuilds;
        this.maskBuildNanos = maskBuildNanos;
        TreeSet<Character> p = new TreeSet<>();
        for (char c : dfa.getCharIntervals()) {
            p.add(c);
        }
        p.add((char) 0);
        p.add((char) 0xD800);
        p.add((char) 0xDC00);
        p.add((char) 0xE000);
        points = new char[p.size()];
        int i = 0;
        for (char c : p) {
            points[i++] = c;
        }
        live = liveStates();
        int longest = 0;
        for (int id : tokens.sorted()) {
            longest = Math.max(longest, tokens.bytes(id).length);
        }
        maxTokenBytes = longest;
    }

    /** Automata above this many states are used as determinized, not minimized (dk.brics minimizes slowly). */
    static final int MINIMIZE_LIMIT = 20_000;

    /**
     * Compiles {@code regex} (dk.brics syntax, with {@code &}) for {@code tokens}; {@code name} names the setting in
     * errors. Refuses a constraint no text satisfies, and one no token of the vocabulary can begin.
     */
    static Constraint compile(String name, String regex, TokenTable tokens, int[] eos, LongAdder maskBuilds,
            LongAdder maskBuildNanos) {
        // one automaton per node of the expression, minimized only once at the end
        return compile(name, () -> new RegExp(regex, RegExp.INTERSECTION).toAutomaton(false), tokens, eos,
                maskBuilds, maskBuildNanos);
    }

    /** Compiles "exactly one of {@code strings}" (the minimal automaton, built directly: thousands are fine). */
    static Constraint compileStrings(String name, List<String> strings, TokenTable tokens, int[] eos,
            LongAdder maskBuilds, LongAdder maskBuildNanos) {
        CharSequence[] sorted = new java.util.TreeSet<>(strings).toArray(new CharSequence[0]);
        return compile(name, () -> BasicAutomata.makeStringUnion(sorted), tokens, eos, maskBuilds, maskBuildNanos);
    }

    private static Constraint compile(String name, java.util.function.Supplier<Automaton> build, TokenTable tokens,
            int[] eos, LongAdder maskBuilds, LongAdder maskBuildNanos) {
        RunAutomaton run;
        try {
            run = DK_BRICS.submit(() -> {
                Automaton a = build.get();
                a.determinize();
                if (a.getNumberOfStates() <= MINIMIZE_LIMIT) {
                    a.minimize();
                }
                return new RunAutomaton(a, true);
            }).get();
        } catch (java.util.concurrent.ExecutionException e) {
            if (e.getCause() instanceof IllegalArgumentException bad) {
                throw new IllegalArgumentException(name + ": cannot compile: " + bad.getMessage(), bad);
            }
            if (e.getCause() instanceof StackOverflowError) {
                throw new IllegalArgumentException(name + ": the constraint is too large to compile");
            }
            throw new IllegalStateException(name + ": compiling failed", e.getCause());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(name + ": interrupted while compiling", e);
        }
        Constraint c = new Constraint(name, run, tokens, eos, maskBuilds, maskBuildNanos);
        if (!c.live[run.getInitialState()]) {
            throw new IllegalArgumentException(name + ": no text satisfies the constraint");
        }
        long start = c.start();
        TokenMask first = c.mask(start);
        boolean onlyFallback = !c.accepting(start) && first.count() <= c.eos.length
                && Arrays.stream(c.eos).allMatch(first::allows);
        if (first.count() == 0 || onlyFallback) {
            throw new IllegalArgumentException(name + ": no token of the model's vocabulary can begin a text that"
                    + " satisfies the constraint");
        }
        return c;
    }

    /** The setting the constraint came from, for messages. */
    String name() {
        return name;
    }

    /** The state before any generated token. */
    long start() {
        return ((long) dfa.getInitialState() << 32) | (tokens.stripsLeadingSpace() ? STRIP : 0);
    }

    /** Whether the text so far satisfies the constraint (EOS may follow). */
    boolean accepting(long s) {
        return s >= 0 && ((s >>> 24) & 3) == 0 && dfa.isAccept((int) (s >>> 32));
    }

    /** Whether {@code text} satisfies the constraint as a whole. */
    boolean matches(String text) {
        return text != null && dfa.run(text);
    }

    private boolean isEos(int token) {
        for (int e : eos) {
            if (e == token) {
                return true;
            }
        }
        return false;
    }

    /** The state after {@code token}. */
    long step(long s, int token) {
        if (s == DEAD) {
            return DEAD;
        }
        if (isEos(token)) {
            return s == END || accepting(s) ? END : DEAD;
        }
        byte[] b = tokens.bytes(token);
        if (s == END || b == null) {
            return DEAD;
        }
        for (int i = 0; i < b.length && s >= 0; i++) {
            s = stepByte(s, b[i] & 0xFF);
        }
        return s >= 0 && isLive(s) ? s : DEAD;
    }

    /** The state after one byte of text, or DEAD. */
    long stepByte(long s, int b) {
        if ((s & STRIP) != 0) {
            s &= ~STRIP;
            if (b == ' ') {
                return s; // the decoder drops the text's first blank
            }
        }
        int state = (int) (s >>> 32);
        int count = (int) (s >>> 24) & 3;
        if (count == 0) {
            if (b < 0x80) {
                return stepChar(state, (char) b);
            }
            if (length(b) == 0) {
                return DEAD; // a continuation byte, or a lead byte UTF-8 never uses
            }
            return ((long) state << 32) | (1L << 24) | b;
        }
        int b1 = (int) s & 0xFF;
        if (b < 0x80 || b > 0xBF || count == 1 && (b < minSecond(b1) || b > maxSecond(b1))) {
            return DEAD;
        }
        int need = length(b1);
        if (count + 1 < need) {
            return (s & ~(0xFFL << (8 * count)) & ~(3L << 24)) | ((long) b << (8 * count)) | ((long) (count + 1) << 24);
        }
        int cp = codePoint(s, count, b);
        if (cp < 0x10000) {
            return stepChar(state, (char) cp);
        }
        int t = dfa.step(state, Character.highSurrogate(cp));
        return t < 0 ? DEAD : stepChar(t, Character.lowSurrogate(cp));
    }

    private long stepChar(int state, char c) {
        int t = dfa.step(state, c);
        return t < 0 || !live[t] ? DEAD : (long) t << 32;
    }

    /** Bytes of a UTF-8 sequence that starts with {@code b1}; 0 when it starts none. */
    private static int length(int b1) {
        return b1 >= 0xC2 && b1 <= 0xDF ? 2 : b1 >= 0xE0 && b1 <= 0xEF ? 3 : b1 >= 0xF0 && b1 <= 0xF4 ? 4 : 0;
    }

    /** Smallest second byte after {@code b1} (no overlong forms). */
    private static int minSecond(int b1) {
        return b1 == 0xE0 ? 0xA0 : b1 == 0xF0 ? 0x90 : 0x80;
    }

    /** Largest second byte after {@code b1} (no surrogates, nothing beyond U+10FFFF). */
    private static int maxSecond(int b1) {
        return b1 == 0xED ? 0x9F : b1 == 0xF4 ? 0x8F : 0xBF;
    }

    /** The code point of the pending bytes of {@code s} ({@code count} of them) followed by {@code last}. */
    private static int codePoint(long s, int count, int last) {
        int b1 = (int) s & 0xFF;
        int need = length(b1);
        int cp = b1 & (need == 2 ? 0x1F : need == 3 ? 0x0F : 0x07);
        for (int i = 1; i < count; i++) {
            cp = (cp << 6) | ((int) (s >>> (8 * i)) & 0x3F);
        }
        return (cp << 6) | (last & 0x3F);
    }

    /** Whether some continuation of {@code s} reaches acceptance. */
    boolean isLive(long s) {
        if (s < 0) {
            return false;
        }
        if (((s >>> 24) & 3) == 0) {
            return live[(int) (s >>> 32)];
        }
        return pendingLive.computeIfAbsent(s & ~STRIP, this::pendingCharIsLive);
    }

    /** A state inside a character: some character beginning with its bytes leads to a live DFA state. */
    private boolean pendingCharIsLive(long s) {
        int state = (int) (s >>> 32);
        int count = (int) (s >>> 24) & 3;
        int b1 = (int) s & 0xFF;
        int need = length(b1);
        int lo = b1;
        int hi = b1;
        for (int i = 1; i < need; i++) {
            int min = i < count ? (int) (s >>> (8 * i)) & 0xFF : i == 1 ? minSecond(b1) : 0x80;
            int max = i < count ? (int) (s >>> (8 * i)) & 0xFF : i == 1 ? maxSecond(b1) : 0xBF;
            lo = lo << 8 | min;
            hi = hi << 8 | max;
        }
        int cpLo = decode(lo, need);
        int cpHi = decode(hi, need);
        // characters of the Basic Multilingual Plane (never surrogates: UTF-8 does not write them)
        for (int i = 0; i < points.length && cpLo < 0x10000; i++) {
            int a = Math.max(points[i], cpLo);
            int z = Math.min(i + 1 < points.length ? points[i + 1] - 1 : 0xFFFF, Math.min(cpHi, 0xFFFF));
            if (a <= z && !(a >= 0xD800 && a <= 0xDFFF)) {
                int t = dfa.step(state, (char) a);
                if (t >= 0 && live[t]) {
                    return true;
                }
            }
        }
        if (cpHi < 0x10000) {
            return false;
        }
        // beyond it: a high surrogate, then a low one; the low range is cut only for the range's first / last high
        int from = Math.max(cpLo, 0x10000);
        char hLo = Character.highSurrogate(from);
        char hHi = Character.highSurrogate(cpHi);
        for (int i = 0; i < points.length; i++) {
            int a = Math.max(points[i], hLo);
            int z = Math.min(i + 1 < points.length ? points[i + 1] - 1 : 0xFFFF, hHi);
            if (a > z) {
                continue;
            }
            int t = dfa.step(state, (char) a);
            if (t < 0) {
                continue;
            }
            List<int[]> lows = new ArrayList<>();
            int edges = (a <= hLo && hLo <= z ? 1 : 0) + (hHi != hLo && a <= hHi && hHi <= z ? 1 : 0);
            if (z - a + 1 > edges) {
                lows.add(new int[] {0xDC00, 0xDFFF});
            } else {
                for (int h : hLo == hHi ? new int[] {hLo} : new int[] {hLo, hHi}) {
                    if (a <= h && h <= z) {
                        lows.add(new int[] {h == hLo ? Character.lowSurrogate(from) : 0xDC00,
                                h == hHi ? Character.lowSurrogate(cpHi) : 0xDFFF});
                    }
                }
            }
            for (int[] r : lows) {
                for (int j = 0; j < points.length; j++) {
                    int la = Math.max(points[j], r[0]);
                    int lz = Math.min(j + 1 < points.length ? points[j + 1] - 1 : 0xFFFF, r[1]);
                    if (la <= lz) {
                        int u = dfa.step(t, (char) la);
                        if (u >= 0 && live[u]) {
                            return true;
                        }
                    }
                }
            }
        }
        return false;
    }

    /** The code point of a complete UTF-8 sequence packed big-endian in an int. */
    private static int decode(int packed, int need) {
        int cp = (packed >>> (8 * (need - 1))) & (need == 2 ? 0x1F : need == 3 ? 0x0F : 0x07);
        for (int i = need - 2; i >= 0; i--) {
            cp = (cp << 6) | ((packed >>> (8 * i)) & 0x3F);
        }
        return cp;
    }

    /**
     * DFA states from which an accepting state is reachable by characters UTF-8 can write: a backward search over
     * the transitions, a surrogate pair counting as one step.
     */
    private boolean[] liveStates() {
        int n = dfa.getSize();
        List<List<Integer>> into = new ArrayList<>(n);
        for (int s = 0; s < n; s++) {
            into.add(new ArrayList<>());
        }
        for (int s = 0; s < n; s++) {
            for (char c : points) {
                int t = dfa.step(s, c);
                if (t < 0 || (c >= 0xDC00 && c < 0xE000)) {
                    continue; // no transition, or an unpaired low surrogate
                }
                if (c < 0xD800 || c >= 0xE000) {
                    into.get(t).add(s);
                } else {
                    for (char low : points) {
                        int u = low >= 0xDC00 && low < 0xE000 ? dfa.step(t, low) : -1;
                        if (u >= 0) {
                            into.get(u).add(s);
                        }
                    }
                }
            }
        }
        boolean[] l = new boolean[n];
        java.util.ArrayDeque<Integer> queue = new java.util.ArrayDeque<>();
        for (int s = 0; s < n; s++) {
            if (dfa.isAccept(s)) {
                l[s] = true;
                queue.add(s);
            }
        }
        while (!queue.isEmpty()) {
            for (int from : into.get(queue.poll())) {
                if (!l[from]) {
                    l[from] = true;
                    queue.add(from);
                }
            }
        }
        return l;
    }

    /** The tokens allowed after {@code s}: computed on first use, then shared. */
    TokenMask mask(long s) {
        TokenMask m = masks.get(s);
        if (m == null) {
            long t0 = System.nanoTime();
            m = masks.computeIfAbsent(s, this::buildMask);
            maskBuildNanos.add(System.nanoTime() - t0);
        }
        return m;
    }

    /** Masks computed so far (states reached by some sequence). */
    int cachedMasks() {
        return masks.size();
    }

    private TokenMask buildMask(long s) {
        maskBuilds.increment();
        long[] bits = new long[(tokens.size() + 63) >>> 6];
        if (s >= 0) {
            int[] sorted = tokens.sorted();
            int[] lcp = tokens.lcp();
            long[] stack = new long[maxTokenBytes + 1];
            stack[0] = s;
            int dead = Integer.MAX_VALUE; // tokens sharing more than this many bytes with the last one are dead too
            for (int i = 0; i < sorted.length; i++) {
                int l = lcp[i];
                if (l > dead) {
                    continue;
                }
                dead = Integer.MAX_VALUE;
                byte[] b = tokens.bytes(sorted[i]);
                int d = l;
                for (; d < b.length; d++) {
                    long next = stepByte(stack[d], b[d] & 0xFF);
                    if (next < 0) {
                        dead = d;
                        break;
                    }
                    stack[d + 1] = next;
                }
                if (d == b.length && isLive(stack[d])) {
                    bits[sorted[i] >>> 6] |= 1L << sorted[i];
                }
            }
        }
        boolean any = false;
        for (int e : eos) { // EOS is never text
            bits[e >>> 6] &= ~(1L << e);
        }
        for (long w : bits) {
            any |= w != 0;
        }
        if (s == END || accepting(s) || !any) {
            // EOS ends an accepted text; a state no token extends (or a dead one) ends too, incomplete
            for (int e : eos) {
                bits[e >>> 6] |= 1L << e;
            }
        }
        return new TokenMask(bits);
    }
}
