namespace PcieVirt.Devices.Media;

/// <summary>
/// Small seeded generator (xorshift64*, seeded through one SplitMix64 step so that nearby seeds give
/// unrelated streams). The model uses it instead of the clock or an unseeded <see cref="Random"/> so
/// that every run with the same seed prices every request identically.
/// </summary>
public sealed class DeterministicRandom
{
    ulong _state;

    public DeterministicRandom(ulong seed)
    {
        ulong z = seed + 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        z ^= z >> 31;
        _state = z == 0 ? 0x2545F4914F6CDD1DUL : z;
    }

    /// <summary>Next 64 random bits.</summary>
    public ulong NextUInt64()
    {
        ulong x = _state;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        _state = x;
        return x * 0x2545F4914F6CDD1DUL;
    }

    /// <summary>Uniform in [0, 1), 53 bits of precision.</summary>
    public double NextDouble() => (NextUInt64() >> 11) * (1.0 / (1UL << 53));

    /// <summary>Uniform in [0, <paramref name="bound"/>).</summary>
    public long NextInt64(long bound) => bound <= 0 ? 0 : (long)(NextDouble() * bound);
}
