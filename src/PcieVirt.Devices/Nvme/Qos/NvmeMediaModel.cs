namespace PcieVirt.Devices.Nvme.Qos;

/// <summary>
/// A simple service model of the media behind a subsystem, shared by every controller given it: a fixed
/// number of channels, each serving one command at a time in arrival order. A command that arrives at
/// <c>now</c> needing <c>service</c> ns completes at max(now, earliest free channel) + service.
/// Deterministic; allocates nothing per command.
/// </summary>
public sealed class NvmeMediaModel
{
    readonly ulong[] _freeAt;

    /// <summary>Creates a model with <paramref name="channels"/> parallel channels (at least 1).</summary>
    public NvmeMediaModel(int channels = 1)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(channels, 1);
        _freeAt = new ulong[channels];
    }

    /// <summary>Number of channels.</summary>
    public int Channels => _freeAt.Length;

    /// <summary>Books a channel for a command arriving at <paramref name="now"/>; returns its completion time.</summary>
    public ulong Schedule(ulong now, ulong serviceNs)
    {
        int best = 0;
        for (int i = 1; i < _freeAt.Length; i++)
            if (_freeAt[i] < _freeAt[best]) best = i;
        ulong start = Math.Max(now, _freeAt[best]);
        _freeAt[best] = start + serviceNs;
        return _freeAt[best];
    }

    /// <summary>Whether some channel is idle at <paramref name="now"/> (a command would start at once).</summary>
    public bool HasIdleChannel(ulong now)
    {
        foreach (ulong t in _freeAt)
            if (t <= now) return true;
        return false;
    }

    /// <summary>Earliest time a channel becomes free.</summary>
    public ulong NextFreeNs
    {
        get
        {
            ulong t = ulong.MaxValue;
            foreach (ulong f in _freeAt) t = Math.Min(t, f);
            return t;
        }
    }
}
