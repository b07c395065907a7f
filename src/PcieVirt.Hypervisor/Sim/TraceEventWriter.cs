using System.Text.Json;
using PcieVirt.Hypervisor.Timing;

namespace PcieVirt.Hypervisor.Sim;

/// <summary>
/// Writes traces in the Chrome trace-event JSON format (opens in ui.perfetto.dev and chrome://tracing):
/// one process per run (an I/O path), one thread per track (vCPU, hypervisor thread, link, device,
/// interrupt), a complete event ("ph":"X") per step with its virtual start and duration in microseconds.
/// </summary>
public static class TraceEventWriter
{
    /// <summary>Writes the <paramref name="runs"/> (name, trace) to <paramref name="stream"/>.</summary>
    public static void Write(Stream stream, IReadOnlyList<(string Name, PathTrace Trace)> runs)
    {
        using var w = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = false });
        w.WriteStartObject();
        w.WriteString("displayTimeUnit", "ns");
        w.WriteStartArray("traceEvents");
        for (int pid = 0; pid < runs.Count; pid++)
        {
            var (name, trace) = runs[pid];
            Metadata(w, "process_name", pid + 1, 0, name);
            var tids = new Dictionary<string, int>(StringComparer.Ordinal);
            foreach (var (track, s) in Lanes(trace.Spans))
            {
                int tid = TrackId(w, tids, pid + 1, track);
                w.WriteStartObject();
                w.WriteString("name", Name(s.Component));
                w.WriteString("cat", s.Track);
                w.WriteString("ph", "X");
                w.WriteNumber("ts", s.StartNs / 1000.0);
                w.WriteNumber("dur", s.DurationNs / 1000.0);
                w.WriteNumber("pid", pid + 1);
                w.WriteNumber("tid", tid);
                w.WriteStartObject("args");
                w.WriteNumber("slot", s.Slot);
                w.WriteNumber("start_ns", s.StartNs);
                w.WriteNumber("duration_ns", s.DurationNs);
                w.WriteEndObject();
                w.WriteEndObject();
            }
        }
        w.WriteEndArray();
        w.WriteEndObject();
    }

    /// <summary>
    /// Writes <paramref name="runs"/> of general events: one process per run, one thread per track in order
    /// of first use, complete events ("ph":"X") and thread-scoped instant events ("ph":"i", "s":"t").
    /// </summary>
    public static void Write(Stream stream, IReadOnlyList<(string Name, EventTrace Trace)> runs)
    {
        using var w = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = false });
        w.WriteStartObject();
        w.WriteString("displayTimeUnit", "ns");
        w.WriteStartArray("traceEvents");
        for (int pid = 0; pid < runs.Count; pid++)
        {
            var (name, trace) = runs[pid];
            Metadata(w, "process_name", pid + 1, 0, name);
            var tids = new Dictionary<string, int>(StringComparer.Ordinal);
            foreach (var e in trace.Events)
            {
                int tid = TrackId(w, tids, pid + 1, e.Track);
                w.WriteStartObject();
                w.WriteString("name", e.Name);
                w.WriteString("cat", e.Category);
                w.WriteString("ph", e.Instant ? "i" : "X");
                w.WriteNumber("ts", e.StartNs / 1000.0);
                if (e.Instant) w.WriteString("s", "t");
                else w.WriteNumber("dur", e.DurationNs / 1000.0);
                w.WriteNumber("pid", pid + 1);
                w.WriteNumber("tid", tid);
                w.WriteStartObject("args");
                w.WriteNumber("start_ns", e.StartNs);
                if (!e.Instant) w.WriteNumber("duration_ns", e.DurationNs);
                if (e.Detail != null) w.WriteString("detail", e.Detail);
                w.WriteEndObject();
                w.WriteEndObject();
            }
            if (trace.Dropped > 0)
            {
                // Say so in the file: a reader should not take a cut trace for the whole run.
                w.WriteStartObject();
                w.WriteString("name", "process_labels");
                w.WriteString("ph", "M");
                w.WriteNumber("pid", pid + 1);
                w.WriteStartObject("args");
                w.WriteString("labels", $"{trace.Dropped} events after the first {trace.Capacity} not recorded");
                w.WriteEndObject();
                w.WriteEndObject();
            }
        }
        w.WriteEndArray();
        w.WriteEndObject();
    }

    /// <summary>
    /// Spans with the track each is drawn on. Trace viewers require the slices of one thread to nest, but at
    /// queue depth above one the link, device and interrupt tracks carry overlapping steps of different
    /// I/Os: those go on extra lanes ("device +1", …), each span on the first lane free at its start.
    /// Tracks come in order of first use, a track's spans in order of start.
    /// </summary>
    internal static IEnumerable<(string Track, TraceSpan Span)> Lanes(IReadOnlyList<TraceSpan> spans)
    {
        var order = new List<string>();
        var byTrack = new Dictionary<string, List<TraceSpan>>(StringComparer.Ordinal);
        foreach (var s in spans)
        {
            if (!byTrack.TryGetValue(s.Track, out var list))
            {
                byTrack.Add(s.Track, list = []);
                order.Add(s.Track);
            }
            list.Add(s);
        }
        foreach (var track in order)
        {
            var list = byTrack[track];
            var sorted = list.Select((s, i) => (s, i)).OrderBy(x => x.s.StartNs).ThenBy(x => x.i).Select(x => x.s); // stable
            var laneEnds = new List<ulong>();
            var laned = new List<(int Lane, TraceSpan Span)>(list.Count);
            foreach (var s in sorted)
            {
                int lane = laneEnds.FindIndex(end => end <= s.StartNs);
                if (lane < 0) { lane = laneEnds.Count; laneEnds.Add(0); }
                laneEnds[lane] = Math.Max(laneEnds[lane], s.StartNs + s.DurationNs);
                laned.Add((lane, s));
            }
            foreach (var (lane, s) in laned.OrderBy(x => x.Lane))
                yield return (lane == 0 ? track : $"{track} +{lane}", s);
        }
    }

    /// <summary>The thread id of <paramref name="track"/> in process <paramref name="pid"/>, naming it on first use.</summary>
    static int TrackId(Utf8JsonWriter w, Dictionary<string, int> tids, int pid, string track)
    {
        if (tids.TryGetValue(track, out int tid)) return tid;
        tid = tids.Count + 1;
        tids.Add(track, tid);
        Metadata(w, "thread_name", pid, tid, track);
        return tid;
    }

    static void Metadata(Utf8JsonWriter w, string kind, int pid, int tid, string name)
    {
        w.WriteStartObject();
        w.WriteString("name", kind);
        w.WriteString("ph", "M");
        w.WriteNumber("pid", pid);
        w.WriteNumber("tid", tid);
        w.WriteStartObject("args");
        w.WriteString("name", name);
        w.WriteEndObject();
        w.WriteEndObject();
    }

    /// <summary>The event name of a component (snake case, as in the JSON breakdown).</summary>
    public static string Name(IoComponent c) => JsonNamingPolicy.SnakeCaseLower.ConvertName(c.ToString());
}
