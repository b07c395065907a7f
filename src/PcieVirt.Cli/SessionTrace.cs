using System.Globalization;
using Microsoft.Extensions.Logging;
using PcieVirt.Devices.Nvme;
using PcieVirt.Fabric;
using PcieVirt.Hypervisor.Sim;

namespace PcieVirt.Cli;

/// <summary>
/// What <c>--trace-out</c> records for <c>io</c> and <c>shell</c>: every TLP the fabric logs (config
/// requests, host MMIO, device DMA and MSI writes) as an instant event on a track of the function
/// concerned, and every NVMe command a controller completes as a complete event from fetch to completion
/// on a track of its submission queue, with its link, queueing and service phases nested in it. TLPs come from the
/// fabric's Trace-level TLP log (<see cref="RootComplex.TlpLogCategory"/>), so the fabric needs no hook of its
/// own; they are stamped with the virtual time at which the fabric carried them.
/// </summary>
public sealed class SessionTrace : ILoggerProvider
{
    const ulong MsiBase = 0xFEE0_0000, MsiLimit = 0xFEEF_FFFF; // the x86 MSI address window (Intel SDM vol. 3 §11.11.1)

    /// <summary>The events recorded so far.</summary>
    public EventTrace Events { get; } = new();

    /// <summary>The virtual clock TLPs are stamped with (the host's); 0 until set.</summary>
    public Func<ulong> Clock { get; set; } = static () => 0;

    /// <summary>Writes the trace as Chrome trace-event JSON, as one process named <paramref name="name"/>.</summary>
    public void Write(Stream stream, string name) => TraceEventWriter.Write(stream, [(name, Events)]);

    /// <summary>An observer that records the commands of the controller behind <paramref name="function"/>, then passes each to <paramref name="next"/>.</summary>
    public INvmeCommandObserver CommandObserver(PciAddress function, INvmeCommandObserver? next) => new CommandRecorder(this, function.Bdf.ToString(), next);

    ILogger ILoggerProvider.CreateLogger(string categoryName) =>
        categoryName == RootComplex.TlpLogCategory ? new TlpLogger(this) : NullLogger.Instance;

    void IDisposable.Dispose() { }

    void OnTlp(int eventId, IReadOnlyList<KeyValuePair<string, object?>> fields, string message)
    {
        string? Field(string key)
        {
            foreach (var kv in fields)
                if (kv.Key == key) return Convert.ToString(kv.Value, CultureInfo.InvariantCulture);
            return null;
        }
        string type = Field("Type") ?? "TLP";
        ulong now = Clock();
        switch (eventId)
        {
            case 1000: // config request: on the target function's track
                Events.Instant(now, $"{Field("Target")} config", type, "tlp", message);
                break;
            case 1001: // host CPU to a function's BAR (MMIO, doorbells)
                Events.Instant(now, $"{Field("Completer")} mmio", type, "tlp", message);
                break;
            case 1002: // a function's DMA or MSI write upstream
                bool msi = type == "MWr" && fields.FirstOrDefault(f => f.Key == "Address").Value is ulong a && a >= MsiBase && a <= MsiLimit;
                Events.Instant(now, $"{Field("RequesterId")} {(msi ? "msi" : "dma")}", msi ? "MSI" : type, "tlp", message);
                break;
        }
    }

    sealed class TlpLogger(SessionTrace owner) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;
        public bool IsEnabled(LogLevel logLevel) => logLevel == LogLevel.Trace;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (logLevel != LogLevel.Trace || state is not IReadOnlyList<KeyValuePair<string, object?>> fields) return;
            owner.OnTlp(eventId.Id, fields, formatter(state, exception));
        }
    }

    sealed class NullLogger : ILogger
    {
        public static readonly NullLogger Instance = new();
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;
        public bool IsEnabled(LogLevel logLevel) => false;
        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) { }
    }

    sealed class CommandRecorder(SessionTrace owner, string bdf, INvmeCommandObserver? next) : INvmeCommandObserver
    {
        // Per submission queue, the end of the last command drawn on each lane. Trace viewers need the
        // slices of one track to nest, but commands of a deeper queue overlap: each command goes on the
        // first lane that is free at its fetch. Completions arrive in completion-time order, so a lane whose
        // last command ended by this one's fetch has nothing overlapping it.
        readonly Dictionary<ushort, List<ulong>> _lanes = [];

        public void OnCommandCompleted(in NvmeCommandRecord r)
        {
            var e = owner.Events;
            ulong done = Math.Max(r.CompletedAtNs, r.FetchedAtNs);
            string name = CommandName(r.SqId, r.Opcode);
            string detail = string.Create(CultureInfo.InvariantCulture,
                $"sq={r.SqId} cid={r.CommandId} opcode=0x{r.Opcode:x2} nsid={r.Nsid} bytes={r.Bytes} status={(r.Status.IsSuccess ? "success" : $"0x{r.Status.Field:x4}")}");
            string track = Lane(r.SqId, r.FetchedAtNs, done);
            e.Complete(r.FetchedAtNs, done - r.FetchedAtNs, track, name, "nvme", detail);
            // Phases nested in it, as the timed controller schedules them: link before the media (SQE, PRP
            // and write-data reads), waiting for a busy drive, controller firmware plus media service, link
            // after (read data and the completion entry).
            ulong mediaEnd = done - Math.Min(r.TransportAfterNs, done - r.FetchedAtNs);
            ulong mediaStart = mediaEnd - Math.Min(r.ServiceTimeNs, mediaEnd - r.FetchedAtNs);
            ulong linkBeforeEnd = Math.Min(r.FetchedAtNs + r.TransportBeforeNs, mediaStart);
            if (linkBeforeEnd > r.FetchedAtNs) e.Complete(r.FetchedAtNs, linkBeforeEnd - r.FetchedAtNs, track, "link in", "nvme");
            if (mediaStart > linkBeforeEnd) e.Complete(linkBeforeEnd, mediaStart - linkBeforeEnd, track, "queued", "nvme");
            if (mediaEnd > mediaStart) e.Complete(mediaStart, mediaEnd - mediaStart, track, "service", "nvme");
            if (done > mediaEnd) e.Complete(mediaEnd, done - mediaEnd, track, "link out", "nvme");
            next?.OnCommandCompleted(r);
        }

        string Lane(ushort sq, ulong start, ulong end)
        {
            if (!_lanes.TryGetValue(sq, out var lanes)) _lanes.Add(sq, lanes = []);
            int lane = lanes.FindIndex(lastEnd => lastEnd <= start);
            if (lane < 0) { lane = lanes.Count; lanes.Add(0); }
            lanes[lane] = end;
            return lane == 0 ? $"{bdf} sq{sq}" : string.Create(CultureInfo.InvariantCulture, $"{bdf} sq{sq} +{lane}");
        }

        static string CommandName(ushort sq, byte opcode) => sq == 0
            ? opcode switch
            {
                NvmeAdminOpcode.Identify => "identify",
                NvmeAdminOpcode.CreateIoSubmissionQueue => "create io sq",
                NvmeAdminOpcode.CreateIoCompletionQueue => "create io cq",
                NvmeAdminOpcode.DeleteIoSubmissionQueue => "delete io sq",
                NvmeAdminOpcode.DeleteIoCompletionQueue => "delete io cq",
                NvmeAdminOpcode.GetLogPage => "get log page",
                NvmeAdminOpcode.SetFeatures => "set features",
                NvmeAdminOpcode.GetFeatures => "get features",
                NvmeAdminOpcode.Abort => "abort",
                _ => string.Create(CultureInfo.InvariantCulture, $"admin 0x{opcode:x2}"),
            }
            : opcode switch
            {
                NvmeIoOpcode.Read => "read",
                NvmeIoOpcode.Write => "write",
                NvmeIoOpcode.Flush => "flush",
                _ => string.Create(CultureInfo.InvariantCulture, $"io 0x{opcode:x2}"),
            };
    }
}
