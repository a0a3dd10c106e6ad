/** Label selector matching as in k8s.io/apimachinery: matchLabels and matchExpressions are ANDed. */
import type { LabelSelector, Labels } from './model.js';

export function selectorMatches(sel: LabelSelector, labels: Labels): boolean {
  for (const [k, v] of Object.entries(sel.matchLabels)) {
    if (labels[k] !== v) return false;
  }
  for (const req of sel.matchExpressions) {
    const has = Object.prototype.hasOwnProperty.call(labels, req.key);
    const val = labels[req.key];
    switch (req.operator) {
      case 'In': if (!has || !req.values.includes(val!)) return false; break;
      // objects lacking the key match NotIn and DoesNotExist
      case 'NotIn': if (has && req.values.includes(val!)) return false; break;
      case 'Exists': if (!has) return false; break;
      case 'DoesNotExist': if (has) return false; break;
    }
  }
  return true;
}

export function selectorIsEmpty(sel: LabelSelector): boolean {
  return Object.keys(sel.matchLabels).length === 0 && sel.matchExpressions.length === 0;
}
