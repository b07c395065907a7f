using System.Diagnostics;
using System.Globalization;

namespace PcieVirt.Cli;

/// <summary>
/// A one-line progress bar on a terminal's stderr for runs that take more than a second (bench paths, io,
/// later fuzz). It stays silent until a second of wall-clock time has passed, redraws at most ten times a
/// second, and erases itself when disposed, so short runs and the output on stdout look as without it.
/// Only <see cref="ForConsole"/> makes a visible one, and only when stderr is a terminal: tests, pipes and
/// redirected runs see nothing. Wall-clock time here paces the display only; the model never sees it.
/// </summary>
/// <remarks>Hand-written rather than Spectre.Console: one line of text needs no dependency, and a bar that
/// writes to a given <see cref="TextWriter"/> is easy to test.</remarks>
public sealed class ProgressBar : IDisposable
{
    const int BarWidth = 30;
    readonly TextWriter? _out;
    readonly string _label;
    readonly long _total;
    readonly Stopwatch _clock = Stopwatch.StartNew();
    readonly TimeSpan _delay, _interval;
    TimeSpan? _lastDraw;
    int _drawnLength;

    /// <summary>A bar that draws on <paramref name="output"/> (null: draws nothing) once <paramref name="delay"/> has passed.</summary>
    public ProgressBar(TextWriter? output, string label, long total, TimeSpan? delay = null, TimeSpan? interval = null)
    {
        _out = output;
        _label = label;
        _total = Math.Max(1, total);
        _delay = delay ?? TimeSpan.FromSeconds(1);
        _interval = interval ?? TimeSpan.FromMilliseconds(100);
    }

    /// <summary>A bar on the console's stderr when <paramref name="stderr"/> is that stream and it is a terminal; otherwise one that draws nothing.</summary>
    public static ProgressBar ForConsole(TextWriter stderr, string label, long total) =>
        new(IsTerminal(stderr) ? stderr : null, label, total);

    /// <summary>Whether <paramref name="stderr"/> is the process's stderr and that is a terminal (not redirected to a file or pipe).</summary>
    public static bool IsTerminal(TextWriter stderr) => ReferenceEquals(stderr, Console.Error) && !Console.IsErrorRedirected;

    /// <summary>Whether the bar has drawn anything (it has something to erase).</summary>
    public bool Visible => _drawnLength > 0;

    /// <summary>Reports that <paramref name="done"/> of the total units are finished; draws when due.</summary>
    public void Report(long done)
    {
        if (_out is null) return;
        var now = _clock.Elapsed;
        if (now < _delay || (_lastDraw is { } last && now - last < _interval)) return;
        _lastDraw = now;
        Draw(Math.Clamp(done, 0, _total), now);
    }

    void Draw(long done, TimeSpan elapsed)
    {
        double fraction = done / (double)_total;
        int filled = (int)(fraction * BarWidth);
        string line = string.Create(CultureInfo.InvariantCulture,
            $"{_label} [{new string('#', filled)}{new string('.', BarWidth - filled)}] {fraction * 100,3:F0}% {done}/{_total} {elapsed.TotalSeconds:F0}s");
        // Carriage return and padding overwrite the previous line without scrolling the terminal.
        _out!.Write('\r' + line.PadRight(_drawnLength));
        _out.Flush();
        _drawnLength = Math.Max(_drawnLength, line.Length);
    }

    /// <summary>Erases the bar if it was drawn.</summary>
    public void Dispose()
    {
        if (_out is null || _drawnLength == 0) return;
        _out.Write('\r' + new string(' ', _drawnLength) + '\r');
        _out.Flush();
        _drawnLength = 0;
    }
}
