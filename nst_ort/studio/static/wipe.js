// A wipe between two pictures laid on each other: the slider uncovers the upper one from the
// left. The run's before/after (photo | picture) and the compare of two runs both use it.

export function wipe(upper, slider) {
  const set = () => { upper.style.clipPath = `inset(0 ${100 - Number(slider.value)}% 0 0)`; };
  slider.addEventListener("input", set);
  set();
  return set;
}
