using System.Globalization;

namespace PcieVirt.Fabric;

/// <summary>
/// Virtual time of a simulated platform, in nanoseconds since power-on. It moves only when the model
/// advances it (a host OS waiting, a script's <c>advance</c>), never with the wall clock, so every run
/// is deterministic. Each <see cref="RootComplex"/> owns one unless it is given a shared one.
/// </summary>
public sealed class VirtualClock
{
    /// <summary>Nanoseconds in one microsecond, millisecond and second.</summary>
    public const ulong Microsecond = 1_000, Millisecond = 1_000_000, Second = 1_000_000_000;

    /// <summary>Current virtual time in nanoseconds (0 at power-on).</summary>
    public ulong Now { get; private set; }

    /// <summary>Moves time forward by <paramref name="nanoseconds"/>; throws (and leaves the time as it was) if it would overflow.</summary>
    public void Advance(ulong nanoseconds)
    {
        if (nanoseconds > ulong.MaxValue - Now)
            throw new ArgumentOutOfRangeException(nameof(nanoseconds), $"advancing {nanoseconds} ns from {Now} ns overflows the clock");
        Now += nanoseconds;
    }

    /// <summary>Moves time forward to <paramref name="time"/> if it lies ahead; time never goes back.</summary>
    public void AdvanceTo(ulong time)
    {
        if (time > Now) Now = time;
    }

    /// <summary>A duration written exactly in the largest unit that divides it ("100 ms", "1500 ns").</summary>
    public static string Format(ulong nanoseconds) => nanoseconds switch
    {
        0 => "0 ns",
        _ when nanoseconds % Second == 0 => string.Create(CultureInfo.InvariantCulture, $"{nanoseconds / Second} s"),
        _ when nanoseconds % Millisecond == 0 => string.Create(CultureInfo.InvariantCulture, $"{nanoseconds / Millisecond} ms"),
        _ when nanoseconds % Microsecond == 0 => string.Create(CultureInfo.InvariantCulture, $"{nanoseconds / Microsecond} us"),
        _ => string.Create(CultureInfo.InvariantCulture, $"{nanoseconds} ns"),
    };

    /// <summary>
    /// Parses a duration such as <c>100ms</c>, <c>1s</c>, <c>250us</c>, <c>500ns</c> or a bare number of
    /// nanoseconds. Returns false (and 0) for anything else, including overflow.
    /// </summary>
    public static bool TryParseDuration(string text, out ulong nanoseconds)
    {
        nanoseconds = 0;
        var s = text.Trim();
        ulong unit = 1;
        foreach (var (suffix, scale) in new[] { ("ns", 1UL), ("us", Microsecond), ("ms", Millisecond), ("s", Second) })
        {
            if (!s.EndsWith(suffix, StringComparison.Ordinal)) continue;
            s = s[..^suffix.Length].TrimEnd();
            unit = scale;
            break;
        }
        if (s.Length == 0 || !ulong.TryParse(s, NumberStyles.None, CultureInfo.InvariantCulture, out ulong n)) return false;
        if (n > ulong.MaxValue / unit) return false;
        nanoseconds = n * unit;
        return true;
    }

    public override string ToString() => $"t={Format(Now)}";
}
